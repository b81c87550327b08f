'use client';

import {
  Alert,
  Badge,
  Button,
  Group,
  Modal,
  MultiSelect,
  Paper,
  PasswordInput,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
} from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { IconPlus } from '@tabler/icons-react';
import { useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { ErrorNote, fieldError, type Problem, problemOf } from '../../src/components/problems';
import { ConsoleShell, useMe } from '../../src/components/shell';
import { graphql } from '../../src/gql';
import type { UserRole } from '../../src/gql/graphql';
import { formatTime } from '../../src/lib/format';

const PAGE = 25;

const UsersDocument = graphql(`
  query Users($first: Int, $after: String, $last: Int, $before: String) {
    users(first: $first, after: $after, last: $last, before: $before) {
      totalCount
      pageInfo {
        hasNextPage
        hasPreviousPage
        startCursor
        endCursor
      }
      edges {
        node {
          id
          username
          role
          createdAt
          passwordChangedAt
        }
      }
    }
    queues {
      id
      name
      listeners {
        id
      }
    }
  }
`);

const CreateUserDocument = graphql(`
  mutation CreateUser($input: CreateUserInput!) {
    createUser(input: $input) {
      __typename
      ...Problem
    }
  }
`);

const UpdateUserRoleDocument = graphql(`
  mutation UpdateUserRole($id: ID!, $role: UserRole!) {
    updateUserRole(id: $id, role: $role) {
      __typename
      ...Problem
    }
  }
`);

const SetUserPasswordDocument = graphql(`
  mutation SetUserPassword($id: ID!, $password: String!) {
    setUserPassword(id: $id, password: $password) {
      __typename
      ...Problem
    }
  }
`);

const DeleteUserDocument = graphql(`
  mutation DeleteUser($id: ID!) {
    deleteUser(id: $id) {
      __typename
      ...Problem
    }
  }
`);

const SetQueueListenersDocument = graphql(`
  mutation SetQueueListeners($id: ID!, $userIds: [ID!]!) {
    setQueueListeners(id: $id, userIds: $userIds) {
      __typename
      ...Problem
    }
  }
`);

type Page = { first: number; after?: string } | { last: number; before?: string };
interface Editing {
  id: string;
  username: string;
  role: UserRole;
}

function Users() {
  const [page, setPage] = useState<Page>({ first: PAGE });
  const [{ data, error, fetching }, reload] = useQuery({ query: UsersDocument, variables: page });
  const [created, createUser] = useMutation(CreateUserDocument);
  const [, setRole] = useMutation(UpdateUserRoleDocument);
  const [passwordSet, setPassword] = useMutation(SetUserPasswordDocument);
  const [, deleteUser] = useMutation(DeleteUserDocument);
  const [, setListeners] = useMutation(SetQueueListenersDocument);
  const [creating, create] = useDisclosure(false);
  const [editing, setEditing] = useState<Editing | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [form, setForm] = useState({ username: '', password: '', role: 'MEMBER' as UserRole });
  const [newPassword, setNewPassword] = useState('');
  const [allowed, setAllowed] = useState<string[]>([]);
  const refresh = () => reload({ requestPolicy: 'network-only' });

  if (error && !data) return <ErrorNote error={error} />;
  const users = data?.users.edges.map((e) => e.node) ?? [];
  const queues = data?.queues ?? [];
  const queuesOf = (userId: string) => queues.filter((q) => q.listeners.some((l) => l.id === userId));

  const saveEditing = async () => {
    if (!editing) return;
    setProblem(null);
    const current = users.find((u) => u.id === editing.id);
    if (current && current.role !== editing.role) {
      const answer = await setRole({ id: editing.id, role: editing.role });
      const p = problemOf(answer.data?.updateUserRole) ?? (answer.error ? { message: answer.error.message } : null);
      if (p) return setProblem(p);
    }
    for (const queue of queues) {
      const listens = queue.listeners.some((l) => l.id === editing.id);
      const should = allowed.includes(queue.id);
      if (listens === should) continue;
      const userIds = should
        ? [...queue.listeners.map((l) => l.id), editing.id]
        : queue.listeners.map((l) => l.id).filter((id) => id !== editing.id);
      const answer = await setListeners({ id: queue.id, userIds });
      const p = problemOf(answer.data?.setQueueListeners) ?? (answer.error ? { message: answer.error.message } : null);
      if (p) return setProblem(p);
    }
    if (newPassword !== '') {
      const answer = await setPassword({ id: editing.id, password: newPassword });
      const p = problemOf(answer.data?.setUserPassword) ?? (answer.error ? { message: answer.error.message } : null);
      if (p) return setProblem(p);
    }
    setEditing(null);
    refresh();
  };

  return (
    <>
      <Button leftSection={<IconPlus size={16} />} onClick={create.open} w="fit-content">
        New user
      </Button>
      {!fetching && users.length === 0 && <Text>No users on this page.</Text>}
      <Table.ScrollContainer minWidth={640}>
        <Table striped>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Username</Table.Th>
              <Table.Th>Role</Table.Th>
              <Table.Th>May listen to</Table.Th>
              <Table.Th>Created</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {users.map((user) => (
              <Table.Tr key={user.id}>
                <Table.Td>{user.username}</Table.Td>
                <Table.Td>
                  <Badge variant="light" color={user.role === 'ADMIN' ? 'grape' : 'blue'}>
                    {user.role.toLowerCase()}
                  </Badge>
                </Table.Td>
                <Table.Td>
                  {user.role === 'ADMIN'
                    ? 'every queue'
                    : queuesOf(user.id)
                        .map((q) => q.name)
                        .join(', ') || 'no queue'}
                </Table.Td>
                <Table.Td>{formatTime(user.createdAt)}</Table.Td>
                <Table.Td>
                  <Group gap="xs" wrap="nowrap">
                    <Button
                      size="xs"
                      variant="default"
                      aria-label={`Edit ${user.username}`}
                      onClick={() => {
                        setProblem(null);
                        setNewPassword('');
                        setAllowed(queuesOf(user.id).map((q) => q.id));
                        setEditing({ id: user.id, username: user.username, role: user.role });
                      }}
                    >
                      Edit
                    </Button>
                    <Button
                      size="xs"
                      color="red"
                      variant="light"
                      aria-label={`Delete ${user.username}`}
                      onClick={async () => {
                        if (
                          !window.confirm(
                            `Delete ${user.username}, with their tokens, sessions, clients and subscriptions?`,
                          )
                        )
                          return;
                        const answer = await deleteUser({ id: user.id });
                        const p = problemOf(answer.data?.deleteUser);
                        if (p) window.alert(p.message);
                        refresh();
                      }}
                    >
                      Delete
                    </Button>
                  </Group>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      <Group justify="space-between">
        <Text size="sm" c="dimmed">
          {data?.users.totalCount === 1 ? '1 user' : `${data?.users.totalCount ?? 0} users`}
        </Text>
        <Group gap="xs">
          <Button
            size="xs"
            variant="default"
            disabled={!data?.users.pageInfo.hasPreviousPage}
            onClick={() => setPage({ last: PAGE, before: data?.users.pageInfo.startCursor ?? undefined })}
          >
            Previous
          </Button>
          <Button
            size="xs"
            variant="default"
            disabled={!data?.users.pageInfo.hasNextPage}
            onClick={() => setPage({ first: PAGE, after: data?.users.pageInfo.endCursor ?? undefined })}
          >
            Next
          </Button>
        </Group>
      </Group>

      <Modal opened={creating} onClose={create.close} title="New user">
        <form
          onSubmit={async (event) => {
            event.preventDefault();
            const answer = await createUser({ input: form });
            if (answer.data?.createUser.__typename === 'CreateUserSuccess') {
              create.close();
              setForm({ username: '', password: '', role: 'MEMBER' });
              refresh();
            }
          }}
        >
          <Stack>
            <TextInput
              label="Username"
              required
              autoComplete="off"
              value={form.username}
              onChange={(e) => setForm({ ...form, username: e.currentTarget.value })}
              error={fieldError(problemOf(created.data?.createUser), 'username')}
            />
            <PasswordInput
              label="Password"
              required
              autoComplete="new-password"
              value={form.password}
              onChange={(e) => setForm({ ...form, password: e.currentTarget.value })}
              error={fieldError(problemOf(created.data?.createUser), 'password')}
            />
            <Select
              label="Role"
              data={[
                { value: 'MEMBER', label: 'Member' },
                { value: 'ADMIN', label: 'Admin' },
              ]}
              value={form.role}
              allowDeselect={false}
              onChange={(value) => value && setForm({ ...form, role: value as UserRole })}
            />
            <ErrorNote error={created.error} problem={problemOf(created.data?.createUser)} />
            <Group justify="flex-end">
              <Button variant="default" onClick={create.close}>
                Cancel
              </Button>
              <Button type="submit" loading={created.fetching}>
                Create user
              </Button>
            </Group>
          </Stack>
        </form>
      </Modal>

      <Modal
        opened={editing !== null}
        onClose={() => setEditing(null)}
        title={editing ? `Edit ${editing.username}` : ''}
      >
        {editing && (
          <form
            onSubmit={(event) => {
              event.preventDefault();
              void saveEditing();
            }}
          >
            <Stack>
              <Select
                label="Role"
                data={[
                  { value: 'MEMBER', label: 'Member' },
                  { value: 'ADMIN', label: 'Admin' },
                ]}
                value={editing.role}
                allowDeselect={false}
                onChange={(value) => value && setEditing({ ...editing, role: value as UserRole })}
              />
              <MultiSelect
                label="May listen to"
                description="Admins may listen to every queue"
                data={queues.map((q) => ({ value: q.id, label: q.name }))}
                value={allowed}
                onChange={setAllowed}
                searchable
                disabled={editing.role === 'ADMIN'}
              />
              <PasswordInput
                label="New password"
                description="Leave empty to keep it; a new one ends their sessions"
                autoComplete="new-password"
                value={newPassword}
                onChange={(e) => setNewPassword(e.currentTarget.value)}
                error={fieldError(problemOf(passwordSet.data?.setUserPassword), 'password')}
              />
              <ErrorNote problem={problem} />
              <Group justify="flex-end">
                <Button variant="default" onClick={() => setEditing(null)}>
                  Cancel
                </Button>
                <Button type="submit">Save</Button>
              </Group>
            </Stack>
          </form>
        )}
      </Modal>
    </>
  );
}

function UsersGate() {
  const me = useMe();
  if (me.role !== 'ADMIN') {
    return (
      <Paper withBorder p="lg">
        <Alert color="red" title="Admins only" role="alert">
          Only admins manage users. Ask an admin if you need another user or a role.
        </Alert>
      </Paper>
    );
  }
  return <Users />;
}

export default function UsersPage() {
  return (
    <ConsoleShell title="Users">
      <UsersGate />
    </ConsoleShell>
  );
}
