'use client';

import { Anchor, Badge, Button, Modal, Paper, Table, Text } from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { IconPlus } from '@tabler/icons-react';
import { useRouter } from 'next/navigation';
import { useMutation, useQuery } from 'urql';
import { Loading } from '../../src/components/loading';
import { usePaged } from '../../src/components/pager';
import { ErrorNote, problemOf } from '../../src/components/problems';
import { EMPTY_QUEUE, QueueForm } from '../../src/components/queue-form';
import { ConsoleShell, useMe } from '../../src/components/shell';
import { graphql } from '../../src/gql';
import { formatAgo, formatBytes, methodLabel } from '../../src/lib/format';

const QueuesDocument = graphql(`
  query Queues {
    queues {
      id
      name
      description
      messageCount
      totalBytes
      lastSeq
      verification {
        method
      }
      messages(last: 1) {
        edges {
          node {
            receivedAt
          }
        }
      }
    }
  }
`);

const CreateQueueDocument = graphql(`
  mutation CreateQueue($input: QueueInput!) {
    createQueue(input: $input) {
      __typename
      ... on CreateQueueSuccess {
        queue {
          id
          name
        }
      }
      ...Problem
    }
  }
`);

function Queues() {
  const me = useMe();
  const router = useRouter();
  const [{ data, fetching, error }] = useQuery({ query: QueuesDocument });
  const [created, create] = useMutation(CreateQueueDocument);
  const [opened, { open, close }] = useDisclosure(false);
  const queues = data?.queues ?? [];
  const { shown, control } = usePaged(queues);
  const isAdmin = me.role === 'ADMIN';

  return (
    <>
      {isAdmin && (
        <Button leftSection={<IconPlus size={16} />} onClick={open} w="fit-content">
          New queue
        </Button>
      )}
      <ErrorNote error={error} />
      {fetching && !data && <Loading what="queues" />}
      {!fetching && queues.length === 0 && !error && (
        <Paper withBorder p="lg">
          <Text>
            {isAdmin
              ? 'No queues yet. Create one, then point a provider at its address (/q/<name>).'
              : 'No queue lets you listen yet. Ask an admin to add you to one.'}
          </Text>
        </Paper>
      )}
      {queues.length > 0 && (
        <Table.ScrollContainer minWidth={640}>
          <Table striped highlightOnHover>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Queue</Table.Th>
                <Table.Th>Verification</Table.Th>
                <Table.Th ta="right">Messages</Table.Th>
                <Table.Th ta="right">Size</Table.Th>
                <Table.Th>Last message</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {shown.map((queue) => (
                <Table.Tr key={queue.id}>
                  <Table.Td>
                    <Anchor href={`/queue/?name=${encodeURIComponent(queue.name)}`}>{queue.name}</Anchor>
                    {queue.description && (
                      <Text size="xs" c="dimmed">
                        {queue.description}
                      </Text>
                    )}
                  </Table.Td>
                  <Table.Td>
                    <Badge variant="light">{methodLabel(queue.verification.method)}</Badge>
                  </Table.Td>
                  <Table.Td ta="right">{queue.messageCount.toLocaleString('en')}</Table.Td>
                  <Table.Td ta="right">{formatBytes(queue.totalBytes)}</Table.Td>
                  <Table.Td>{formatAgo(queue.messages.edges[0]?.node.receivedAt)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {control}
      <Modal opened={opened} onClose={close} title="New queue" size="lg">
        <QueueForm
          initial={EMPTY_QUEUE}
          submitLabel="Create queue"
          busy={created.fetching}
          problem={problemOf(created.data?.createQueue) ?? (created.error ? { message: created.error.message } : null)}
          onCancel={close}
          onSubmit={async (input) => {
            const answer = await create({ input });
            const result = answer.data?.createQueue;
            if (result?.__typename === 'CreateQueueSuccess') {
              close();
              router.push(`/queue/?name=${encodeURIComponent(result.queue.name)}`);
            }
          }}
        />
      </Modal>
    </>
  );
}

export default function QueuesPage() {
  return (
    <ConsoleShell title="Queues">
      <Queues />
    </ConsoleShell>
  );
}
