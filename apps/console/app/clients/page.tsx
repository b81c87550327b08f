'use client';

import { Alert, Badge, Button, Group, Modal, Paper, Select, Stack, Table, Text, TextInput } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { IconPlus } from '@tabler/icons-react';
import { useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { Loading } from '../../src/components/loading';
import { usePaged } from '../../src/components/pager';
import { ErrorNote, fieldError, problemOf } from '../../src/components/problems';
import { useSocket } from '../../src/components/providers';
import { ConsoleShell } from '../../src/components/shell';
import { graphql } from '../../src/gql';
import { formatAgo, formatBytes, formatTime } from '../../src/lib/format';
import { type StreamEvent, useMessageStream } from '../../src/lib/message-stream';

const ClientsDocument = graphql(`
  query Clients {
    clients {
      id
      name
      queueName
      cursor
      state
      needsRefresh
      lastReadAt
      createdAt
    }
    queues {
      id
      name
    }
  }
`);

const ListenDocument = graphql(`
  mutation Listen($client: String!, $queue: String!) {
    listen(client: $client, queue: $queue) {
      __typename
      ...Problem
    }
  }
`);

const UnlistenDocument = graphql(`
  mutation Unlisten($client: String!) {
    unlisten(client: $client) {
      __typename
      ...Problem
    }
  }
`);

const ReadClientDocument = graphql(`
  mutation ReadClient($client: String!, $limit: Int) {
    readClient(client: $client, limit: $limit) {
      __typename
      ... on ReadClientSuccess {
        outcome {
          __typename
          ... on ReadMessages {
            currentSeq
            messages {
              seq
              receivedAt
              size
              body
            }
          }
          ... on RefreshSignal {
            currentSeq
            message
          }
        }
      }
      ...Problem
    }
  }
`);

const ClientStreamDocument = graphql(`
  subscription ClientStream($client: String!, $after: Int) {
    clientMessages(client: $client, after: $after) {
      ...StreamEvent
    }
  }
`);

/** What the client would receive from its cursor on, live, without moving the cursor. */
function LiveView({ client, cursor }: { client: string; cursor: number }) {
  const socket = useSocket();
  const stream = useMessageStream({
    socket,
    document: ClientStreamDocument,
    variables: { client },
    select: (data) => (data as { clientMessages?: StreamEvent } | null)?.clientMessages ?? null,
    after: cursor,
    paused: false,
    keep: 100,
  });
  return (
    <Stack gap="xs">
      <Badge color={stream.connection === 'live' ? 'green' : 'yellow'} variant="dot">
        {stream.connection === 'live' ? 'Live' : 'Connecting…'}
      </Badge>
      {stream.refreshes.map((r) => (
        <Alert key={r.at} color="orange" title="Refresh signal" role="status">
          {r.message}
        </Alert>
      ))}
      {stream.messages.length === 0 ? (
        <Text size="sm" c="dimmed">
          Nothing after #{cursor} yet; new messages appear here as they arrive.
        </Text>
      ) : (
        stream.messages.map((m) => (
          <Text key={m.seq} size="sm" ff="monospace" lineClamp={1}>
            #{m.seq} · {formatBytes(m.size)} · {m.body}
          </Text>
        ))
      )}
    </Stack>
  );
}

function Clients() {
  const [{ data, error, fetching }, reload] = useQuery({ query: ClientsDocument });
  const [listened, listen] = useMutation(ListenDocument);
  const [unlistened, unlisten] = useMutation(UnlistenDocument);
  const [read, readClient] = useMutation(ReadClientDocument);
  const [opened, { open, close }] = useDisclosure(false);
  const [form, setForm] = useState({ client: '', queue: '' });
  const [watching, setWatching] = useState<{ name: string; cursor: number } | null>(null);
  const [reading, setReading] = useState<string | null>(null);
  const clients = data?.clients ?? [];
  const { shown, control } = usePaged(clients);
  const refresh = () => reload({ requestPolicy: 'network-only' });
  const outcome = read.data?.readClient.__typename === 'ReadClientSuccess' ? read.data.readClient.outcome : null;

  return (
    <>
      <Button leftSection={<IconPlus size={16} />} onClick={open} w="fit-content">
        Listen to a queue
      </Button>
      <ErrorNote error={error ?? unlistened.error} problem={problemOf(unlistened.data?.unlisten)} />
      {fetching && !data && <Loading what="clients" />}
      {!fetching && clients.length === 0 && !error && (
        <Paper withBorder p="lg">
          <Text>
            No clients yet. A client is a named reader of one queue with its own cursor: listen to a queue to make one,
            then read from it here, with the API, or with the Webhook Queue's /read.
          </Text>
        </Paper>
      )}
      {clients.length > 0 && (
        <Table.ScrollContainer minWidth={720}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Client</Table.Th>
                <Table.Th>Queue</Table.Th>
                <Table.Th ta="right">Cursor</Table.Th>
                <Table.Th>State</Table.Th>
                <Table.Th>Last read</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {shown.map((c) => (
                <Table.Tr key={c.id}>
                  <Table.Td>{c.name}</Table.Td>
                  <Table.Td>{c.queueName}</Table.Td>
                  <Table.Td ta="right">{c.cursor}</Table.Td>
                  <Table.Td>
                    <Group gap={4}>
                      <Badge variant="dot" color={c.state === 'CONNECTED' ? 'green' : 'gray'}>
                        {c.state.toLowerCase()}
                      </Badge>
                      {c.needsRefresh && <Badge color="orange">refresh due</Badge>}
                    </Group>
                  </Table.Td>
                  <Table.Td>{formatAgo(c.lastReadAt)}</Table.Td>
                  <Table.Td>
                    <Group gap="xs" wrap="nowrap">
                      <Button
                        size="xs"
                        variant="default"
                        aria-label={`Read a page for ${c.name}`}
                        onClick={async () => {
                          setReading(c.name);
                          await readClient({ client: c.name, limit: 20 });
                          refresh();
                        }}
                      >
                        Read 20
                      </Button>
                      <Button
                        size="xs"
                        variant="default"
                        aria-label={`Watch ${c.name} live`}
                        onClick={() => setWatching({ name: c.name, cursor: c.cursor })}
                      >
                        Watch
                      </Button>
                      {c.state === 'CONNECTED' && (
                        <Button
                          size="xs"
                          color="red"
                          variant="light"
                          aria-label={`Unlisten ${c.name}`}
                          onClick={async () => {
                            await unlisten({ client: c.name });
                            refresh();
                          }}
                        >
                          Unlisten
                        </Button>
                      )}
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {control}
      {reading && (
        <Paper withBorder p="md">
          <Stack gap="xs">
            <Text fw={600}>Read for {reading}</Text>
            <ErrorNote error={read.error} problem={problemOf(read.data?.readClient)} />
            {outcome?.__typename === 'RefreshSignal' && (
              <Alert color="orange" title="Refresh signal" role="status">
                {outcome.message} The cursor moved to #{outcome.currentSeq}.
              </Alert>
            )}
            {outcome?.__typename === 'ReadMessages' &&
              (outcome.messages.length === 0 ? (
                <Text size="sm">Nothing new: the client is at #{outcome.currentSeq}.</Text>
              ) : (
                outcome.messages.map((m) => (
                  <Text key={m.seq} size="sm" ff="monospace" lineClamp={1}>
                    #{m.seq} · {formatTime(m.receivedAt)} · {m.body}
                  </Text>
                ))
              ))}
          </Stack>
        </Paper>
      )}
      {watching && (
        <Paper withBorder p="md">
          <Group justify="space-between" mb="xs">
            <Text fw={600}>What {watching.name} would receive</Text>
            <Button size="xs" variant="default" onClick={() => setWatching(null)}>
              Stop watching
            </Button>
          </Group>
          <LiveView key={watching.name} client={watching.name} cursor={watching.cursor} />
        </Paper>
      )}
      <Modal opened={opened} onClose={close} title="Listen to a queue">
        <form
          onSubmit={async (event) => {
            event.preventDefault();
            const answer = await listen({ client: form.client.trim(), queue: form.queue });
            if (answer.data?.listen.__typename === 'ListenSuccess') {
              close();
              refresh();
            }
          }}
        >
          <Stack>
            <TextInput
              label="Client name"
              description="Yours alone; listening again with the same name reconnects it"
              required
              value={form.client}
              onChange={(e) => setForm({ ...form, client: e.currentTarget.value })}
              error={fieldError(problemOf(listened.data?.listen), 'client')}
            />
            <Select
              label="Queue"
              required
              data={(data?.queues ?? []).map((q) => q.name)}
              value={form.queue || null}
              onChange={(value) => setForm({ ...form, queue: value ?? '' })}
              searchable
            />
            <ErrorNote error={listened.error} problem={problemOf(listened.data?.listen)} />
            <Group justify="flex-end">
              <Button variant="default" onClick={close}>
                Cancel
              </Button>
              <Button type="submit" loading={listened.fetching}>
                Listen
              </Button>
            </Group>
          </Stack>
        </form>
      </Modal>
    </>
  );
}

export default function ClientsPage() {
  return (
    <ConsoleShell title="Clients">
      <Clients />
    </ConsoleShell>
  );
}
