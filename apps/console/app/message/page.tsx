'use client';

import { json } from '@codemirror/lang-json';
import {
  Badge,
  Button,
  CopyButton,
  Group,
  Paper,
  SimpleGrid,
  Stack,
  Table,
  Text,
  useComputedColorScheme,
} from '@mantine/core';
import { IconCopy, IconDownload } from '@tabler/icons-react';
import CodeMirror, { EditorView } from '@uiw/react-codemirror';
import { useSearchParams } from 'next/navigation';
import { Suspense } from 'react';
import { useQuery } from 'urql';
import { Loading } from '../../src/components/loading';
import { ErrorNote } from '../../src/components/problems';
import { ConsoleShell } from '../../src/components/shell';
import { Stat } from '../../src/components/stat';
import { graphql } from '../../src/gql';
import { formatBytes, formatTime, methodLabel, presentBody, shellQuote } from '../../src/lib/format';

const MessageDocument = graphql(`
  query MessagePage($queue: String!, $after: String!) {
    queue(name: $queue) {
      name
      ingestPath
      verification {
        method
      }
      messages(after: $after, first: 1) {
        edges {
          node {
            seq
            receivedAt
            size
            contentType
            sourceIp
            body
            bodyBase64
            headers {
              name
              value
            }
          }
        }
      }
    }
  }
`);

/** Headers a provider's request carried that curl sets itself or that name the old connection. */
const LEAVE_OUT = new Set(['host', 'content-length', 'connection', 'transfer-encoding', 'accept-encoding']);

function Inspector({ queue, seq }: { queue: string; seq: number }) {
  const scheme = useComputedColorScheme('light');
  const [{ data, error, fetching }] = useQuery({
    query: MessageDocument,
    variables: { queue, after: String(seq - 1) },
  });
  const message = data?.queue.messages.edges[0]?.node;
  if (!message || message.seq !== seq) {
    if (fetching) return <Loading what="the message" />;
    return (
      <ErrorNote
        error={error}
        problem={
          error
            ? null
            : { message: `Queue ${queue} holds no message #${seq} (it may have been removed by the queue's limits).` }
        }
      />
    );
  }
  const shown = presentBody(message.body, message.bodyBase64, message.contentType);
  const url = `${window.location.origin}${data?.queue.ingestPath}`;
  const curl = [
    `curl -X POST ${shellQuote(url)}`,
    ...message.headers
      .filter((h) => !LEAVE_OUT.has(h.name.toLowerCase()))
      .map((h) => `  -H ${shellQuote(`${h.name}: ${h.value}`)}`),
    shown.kind === 'binary'
      ? `  --data-binary @message-${message.seq}.bin`
      : `  --data-binary ${shellQuote(message.body)}`,
  ].join(' \\\n');

  return (
    <Stack>
      <SimpleGrid cols={{ base: 2, sm: 4 }}>
        <Stat label="Received">{formatTime(message.receivedAt)}</Stat>
        <Stat label="Size">{formatBytes(message.size)}</Stat>
        <Stat label="From">{message.sourceIp ?? 'unknown'}</Stat>
        <Stat label="Verification">
          <Badge color="green" variant="dot">
            passed: {methodLabel(data?.queue.verification.method ?? '')}
          </Badge>
        </Stat>
      </SimpleGrid>
      <Group>
        <CopyButton value={curl}>
          {({ copied, copy }) => (
            <Button variant="default" leftSection={<IconCopy size={16} />} onClick={copy}>
              {copied ? 'Copied' : 'Copy as curl'}
            </Button>
          )}
        </CopyButton>
        <Button
          variant="default"
          leftSection={<IconDownload size={16} />}
          onClick={() => {
            const bytes = Uint8Array.from(atob(message.bodyBase64), (c) => c.charCodeAt(0));
            const link = document.createElement('a');
            link.href = URL.createObjectURL(
              new Blob([bytes], { type: message.contentType ?? 'application/octet-stream' }),
            );
            link.download = `${queue}-${message.seq}.bin`;
            link.click();
            URL.revokeObjectURL(link.href);
          }}
        >
          Download the exact bytes
        </Button>
      </Group>
      <Paper withBorder>
        <Table.ScrollContainer minWidth={480}>
          <Table aria-label="Headers">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Header</Table.Th>
                <Table.Th>Value</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {message.headers.map((h, i) => (
                // biome-ignore lint/suspicious/noArrayIndexKey: a message's headers never change order, and a name may repeat
                <Table.Tr key={`${h.name}-${i}`}>
                  <Table.Td ff="monospace">{h.name}</Table.Td>
                  <Table.Td ff="monospace" style={{ wordBreak: 'break-all' }}>
                    {h.value}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      </Paper>
      <Stack gap={4}>
        <Text fw={600}>
          Body{' '}
          <Text span size="sm" c="dimmed">
            ({shown.kind === 'json' ? 'JSON, pretty-printed' : shown.kind === 'binary' ? 'binary, as base64' : 'text'}
            {message.contentType ? `, ${message.contentType}` : ''})
          </Text>
        </Text>
        <CodeMirror
          value={shown.text}
          readOnly
          editable={false}
          theme={scheme}
          extensions={[
            EditorView.lineWrapping,
            EditorView.contentAttributes.of({ 'aria-label': 'Message body' }),
            ...(shown.kind === 'json' ? [json()] : []),
          ]}
          basicSetup={{ foldGutter: true, highlightActiveLine: false }}
          data-testid="message-body"
        />
      </Stack>
    </Stack>
  );
}

function MessagePageBody() {
  const params = useSearchParams();
  const queue = params.get('queue') ?? '';
  const seq = Number(params.get('seq'));
  const valid = queue !== '' && Number.isInteger(seq) && seq > 0;
  return (
    <ConsoleShell title={valid ? `${queue} #${seq}` : 'Message'}>
      {valid ? (
        <Inspector queue={queue} seq={seq} />
      ) : (
        <ErrorNote problem={{ message: 'The address names no message (?queue=...&seq=...)' }} />
      )}
    </ConsoleShell>
  );
}

export default function MessagePage() {
  return (
    <Suspense>
      <MessagePageBody />
    </Suspense>
  );
}
