'use client';

import {
  Alert,
  Anchor,
  Badge,
  Button,
  Code,
  Group,
  Modal,
  Paper,
  SimpleGrid,
  Stack,
  Table,
  Text,
  TextInput,
} from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { IconPlayerPause, IconPlayerPlay, IconRefreshAlert } from '@tabler/icons-react';
import { useRouter, useSearchParams } from 'next/navigation';
import { Suspense, useEffect, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { Loading } from '../../src/components/loading';
import { ErrorNote, problemOf } from '../../src/components/problems';
import { useSocket } from '../../src/components/providers';
import { QueueForm, queueFormValues } from '../../src/components/queue-form';
import { ConsoleShell, useMe } from '../../src/components/shell';
import { Stat } from '../../src/components/stat';
import { graphql } from '../../src/gql';
import type { QueuePageQuery } from '../../src/gql/graphql';
import { formatBytes, formatTime, methodLabel } from '../../src/lib/format';
import { type StreamEvent, type StreamedMessage, useMessageStream } from '../../src/lib/message-stream';

const QueuePageDocument = graphql(`
  query QueuePage($name: String!) {
    queue(name: $name) {
      id
      name
      description
      ingestPath
      lastSeq
      messageCount
      totalBytes
      maxMessageCount
      maxMessageSize
      maxQueueBytes
      retentionSeconds
      managedBy
      verification {
        method
      }
      ...QueueSettings
      messages(last: 50) {
        edges {
          node {
            # The fields of StreamedMessage, written out: a fragment spread here would cost the
            # query past the API's cost limit (each level of a spread is priced like a level of
            # nesting, times the 50 edges).
            seq
            receivedAt
            size
            contentType
            sourceIp
            body
          }
        }
      }
    }
  }
`);

const QueueStreamDocument = graphql(`
  subscription QueueStream($queue: String!, $after: Int) {
    queueMessages(queue: $queue, after: $after) {
      ...StreamEvent
    }
  }
`);

const QueueStatsDocument = graphql(`
  query QueueStats($name: String!) {
    queue(name: $name) {
      id
      messageCount
      totalBytes
    }
  }
`);

/** What the queue stores now, read again every few seconds while the page is open. */
function StoredNow({ name, initial }: { name: string; initial: { messageCount: number; totalBytes: number } }) {
  const [{ data }, reexecute] = useQuery({ query: QueueStatsDocument, variables: { name }, pause: true });
  useEffect(() => {
    const timer = setInterval(() => reexecute({ requestPolicy: 'network-only' }), 5000);
    return () => clearInterval(timer);
  }, [reexecute]);
  const stats = data?.queue ?? initial;
  return (
    <>
      {stats.messageCount.toLocaleString('en')} messages, {formatBytes(stats.totalBytes)}
    </>
  );
}

const UpdateQueueDocument = graphql(`
  mutation UpdateQueue($id: ID!, $input: QueueInput!) {
    updateQueue(id: $id, input: $input) {
      __typename
      ... on UpdateQueueSuccess {
        queue {
          id
          name
        }
      }
      ...Problem
    }
  }
`);

const DeleteQueueDocument = graphql(`
  mutation DeleteQueue($id: ID!) {
    deleteQueue(id: $id) {
      __typename
      ...Problem
    }
  }
`);

type Queue = NonNullable<QueuePageQuery['queue']>;

function preview(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  return flat.length > 120 ? `${flat.slice(0, 120)}…` : flat;
}

function LiveMessages({ queue }: { queue: Queue }) {
  const socket = useSocket();
  const [paused, setPaused] = useState(false);
  const loaded: StreamedMessage[] = queue.messages.edges.map((e) => e.node).reverse();
  const stream = useMessageStream({
    socket,
    document: QueueStreamDocument,
    variables: { queue: queue.name },
    select: (data) => (data as { queueMessages?: StreamEvent } | null)?.queueMessages ?? null,
    after: loaded[0]?.seq ?? queue.lastSeq,
    paused,
  });
  // The stream starts after the newest loaded message: the two never overlap.
  const messages = [...stream.messages, ...loaded].slice(0, 500);
  const connection = stream.connection;

  return (
    <Stack gap="sm">
      <Group justify="space-between">
        <Group gap="xs">
          <Badge color={connection === 'live' ? 'green' : 'yellow'} variant="dot" aria-live="polite">
            {connection === 'live' ? 'Live' : connection === 'connecting' ? 'Connecting…' : 'Reconnecting…'}
          </Badge>
          {stream.lastSeq !== null && (
            <Text size="sm" c="dimmed">
              last seen #{stream.lastSeq}
            </Text>
          )}
        </Group>
        <Group gap="xs">
          {paused && stream.held > 0 && (
            <Button size="xs" variant="light" onClick={() => setPaused(false)} aria-live="polite">
              {stream.held} new
            </Button>
          )}
          <Button
            size="xs"
            variant="default"
            leftSection={paused ? <IconPlayerPlay size={14} /> : <IconPlayerPause size={14} />}
            onClick={() => setPaused((p) => !p)}
          >
            {paused ? 'Resume' : 'Pause'}
          </Button>
        </Group>
      </Group>
      {stream.error && connection !== 'live' && (
        <Alert color="yellow" role="status">
          {stream.error}: reconnecting, and resuming after #{stream.lastSeq ?? 'the newest'}.
        </Alert>
      )}
      {stream.refreshes.map((r) => (
        <Alert
          key={`${r.at}-${r.currentSeq}`}
          color="orange"
          icon={<IconRefreshAlert size={18} />}
          title="Refresh signal"
          role="status"
        >
          {r.message} The stream goes on after #{r.currentSeq}.
        </Alert>
      ))}
      {messages.length === 0 ? (
        <Paper withBorder p="lg">
          <Text>
            No messages yet. Providers post to <Code>{queue.ingestPath}</Code>; new ones appear here as they arrive.
          </Text>
        </Paper>
      ) : (
        <Table.ScrollContainer minWidth={640}>
          <Table striped highlightOnHover aria-label="Messages, newest first">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>#</Table.Th>
                <Table.Th>Received</Table.Th>
                <Table.Th ta="right">Size</Table.Th>
                <Table.Th>From</Table.Th>
                <Table.Th>Body</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {messages.map((m) => (
                <Table.Tr key={m.seq} data-seq={m.seq}>
                  <Table.Td>
                    <Anchor href={`/message/?queue=${encodeURIComponent(queue.name)}&seq=${m.seq}`}>{m.seq}</Anchor>
                  </Table.Td>
                  <Table.Td>{formatTime(m.receivedAt)}</Table.Td>
                  <Table.Td ta="right">{formatBytes(m.size)}</Table.Td>
                  <Table.Td>{m.sourceIp ?? '—'}</Table.Td>
                  <Table.Td>
                    <Text size="sm" ff="monospace" lineClamp={1}>
                      {preview(m.body)}
                    </Text>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </Stack>
  );
}

function QueueView({ name }: { name: string }) {
  const me = useMe();
  const router = useRouter();
  const [{ data, error, fetching }] = useQuery({
    query: QueuePageDocument,
    variables: { name },
    requestPolicy: 'network-only',
  });
  const [updated, update] = useMutation(UpdateQueueDocument);
  const [deleted, remove] = useMutation(DeleteQueueDocument);
  const [editing, edit] = useDisclosure(false);
  const [deleting, del] = useDisclosure(false);
  const [confirm, setConfirm] = useState('');
  const queue = data?.queue;
  if (!queue) return fetching ? <Loading what="the queue" /> : <ErrorNote error={error} />;
  const isAdmin = me.role === 'ADMIN';
  const limits = [
    queue.maxMessageCount !== null &&
      queue.maxMessageCount !== undefined &&
      `${queue.maxMessageCount.toLocaleString('en')} messages`,
    queue.maxQueueBytes && `${formatBytes(queue.maxQueueBytes)} in all`,
    queue.maxMessageSize && `${formatBytes(queue.maxMessageSize)} each`,
    queue.retentionSeconds && `kept ${queue.retentionSeconds} s`,
  ].filter(Boolean);

  return (
    <Stack>
      <SimpleGrid cols={{ base: 1, sm: 3 }}>
        <Stat label="Providers post to">
          <Code>{queue.ingestPath}</Code>
        </Stat>
        <Stat label="Verification">{methodLabel(queue.verification.method)}</Stat>
        <Stat label="Stored">
          <StoredNow name={queue.name} initial={queue} />
          {limits.length > 0 ? ` (limits: ${limits.join(', ')})` : ''}
        </Stat>
      </SimpleGrid>
      {isAdmin && (
        <Group>
          <Button variant="default" onClick={edit.open}>
            Edit queue
          </Button>
          <Button color="red" variant="light" onClick={del.open}>
            Delete queue
          </Button>
          {queue.managedBy === 'config' && (
            <Text size="sm" c="dimmed">
              Defined in the config file: a reload puts it back as the file says.
            </Text>
          )}
        </Group>
      )}
      <LiveMessages key={queue.id} queue={queue} />
      <Modal opened={editing} onClose={edit.close} title={`Edit ${queue.name}`} size="lg">
        <QueueForm
          initial={queueFormValues(queue)}
          submitLabel="Save"
          busy={updated.fetching}
          problem={problemOf(updated.data?.updateQueue) ?? (updated.error ? { message: updated.error.message } : null)}
          onCancel={edit.close}
          onSubmit={async (input) => {
            const answer = await update({ id: queue.id, input });
            const result = answer.data?.updateQueue;
            if (result?.__typename === 'UpdateQueueSuccess') {
              edit.close();
              if (result.queue.name !== queue.name)
                router.replace(`/queue/?name=${encodeURIComponent(result.queue.name)}`);
            }
          }}
        />
      </Modal>
      <Modal opened={deleting} onClose={del.close} title={`Delete ${queue.name}?`}>
        <Stack>
          <Text>
            This deletes the queue and its {queue.messageCount.toLocaleString('en')} messages; its clients are
            disconnected. Type the queue's name to confirm.
          </Text>
          <TextInput label="Queue name" value={confirm} onChange={(e) => setConfirm(e.currentTarget.value)} />
          <ErrorNote error={deleted.error} problem={problemOf(deleted.data?.deleteQueue)} />
          <Group justify="flex-end">
            <Button variant="default" onClick={del.close}>
              Cancel
            </Button>
            <Button
              color="red"
              disabled={confirm !== queue.name}
              loading={deleted.fetching}
              onClick={async () => {
                const answer = await remove({ id: queue.id });
                if (answer.data?.deleteQueue.__typename === 'DeleteQueueSuccess') router.push('/queues/');
              }}
            >
              Delete
            </Button>
          </Group>
        </Stack>
      </Modal>
    </Stack>
  );
}

function QueuePageBody() {
  const name = useSearchParams().get('name') ?? '';
  return (
    <ConsoleShell title={name ? `Queue ${name}` : 'Queue'}>
      {name ? (
        <QueueView name={name} />
      ) : (
        <ErrorNote problem={{ message: 'No queue named in the address (?name=...)' }} />
      )}
    </ConsoleShell>
  );
}

export default function QueuePage() {
  return (
    <Suspense>
      <QueuePageBody />
    </Suspense>
  );
}
