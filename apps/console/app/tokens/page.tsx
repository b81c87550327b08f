'use client';

import {
  Alert,
  Badge,
  Button,
  Checkbox,
  Code,
  CopyButton,
  Group,
  Modal,
  Paper,
  Stack,
  Switch,
  Table,
  Text,
  TextInput,
} from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import { IconCopy, IconPlus } from '@tabler/icons-react';
import { useRouter, useSearchParams } from 'next/navigation';
import { Suspense, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { Loading } from '../../src/components/loading';
import { usePaged } from '../../src/components/pager';
import { ErrorNote, fieldError, problemOf } from '../../src/components/problems';
import { ConsoleShell, useMe } from '../../src/components/shell';
import { graphql } from '../../src/gql';
import { formatAgo, formatTime } from '../../src/lib/format';

const TokensDocument = graphql(`
  query Tokens($allUsers: Boolean, $includeRevoked: Boolean) {
    scopes
    tokens(allUsers: $allUsers, includeRevoked: $includeRevoked) {
      id
      name
      scopes
      createdAt
      expiresAt
      lastUsedAt
      revokedAt
      user {
        id
        username
      }
    }
  }
`);

const CreateTokenDocument = graphql(`
  mutation CreateToken($input: CreateTokenInput!) {
    createToken(input: $input) {
      __typename
      ... on CreateTokenSuccess {
        created {
          secret
          token {
            id
            name
          }
        }
      }
      ...Problem
    }
  }
`);

const RevokeTokenDocument = graphql(`
  mutation RevokeToken($id: ID!) {
    revokeToken(id: $id) {
      __typename
      ...Problem
    }
  }
`);

function Tokens() {
  const me = useMe();
  const isAdmin = me.role === 'ADMIN';
  // The filters live in the address, so that a view can be shared or bookmarked.
  const params = useSearchParams();
  const router = useRouter();
  const everyone = params.get('everyone') === '1';
  const includeRevoked = params.get('revoked') === '1';
  const setFilter = (name: 'everyone' | 'revoked', on: boolean) => {
    const next = new URLSearchParams(params.toString());
    if (on) next.set(name, '1');
    else next.delete(name);
    const query = next.toString();
    router.replace(query ? `/tokens/?${query}` : '/tokens/');
  };
  const [{ data, error, fetching }, reload] = useQuery({
    query: TokensDocument,
    variables: { allUsers: isAdmin && everyone, includeRevoked },
  });
  const [created, create] = useMutation(CreateTokenDocument);
  const [revoked, revoke] = useMutation(RevokeTokenDocument);
  const [opened, { open, close }] = useDisclosure(false);
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>([]);
  const [secret, setSecret] = useState<string | null>(null);
  const tokens = data?.tokens ?? [];
  const { shown, control } = usePaged(tokens);
  const problem = problemOf(created.data?.createToken);

  return (
    <>
      <Group>
        <Button
          leftSection={<IconPlus size={16} />}
          onClick={() => {
            setName('');
            setScopes([]);
            setSecret(null);
            open();
          }}
        >
          New token
        </Button>
        {isAdmin && (
          <Switch
            label="Everyone's tokens"
            checked={everyone}
            onChange={(e) => setFilter('everyone', e.currentTarget.checked)}
          />
        )}
        <Switch
          label="Show revoked"
          checked={includeRevoked}
          onChange={(e) => setFilter('revoked', e.currentTarget.checked)}
        />
      </Group>
      <ErrorNote error={error ?? revoked.error} problem={problemOf(revoked.data?.revokeToken)} />
      {fetching && !data && <Loading what="tokens" />}
      {!fetching && tokens.length === 0 && !error && (
        <Paper withBorder p="lg">
          <Text>
            No tokens yet. A token lets a program use the API without your password: create one and choose what it may
            do.
          </Text>
        </Paper>
      )}
      {tokens.length > 0 && (
        <Table.ScrollContainer minWidth={720}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                {isAdmin && everyone && <Table.Th>User</Table.Th>}
                <Table.Th>Scopes</Table.Th>
                <Table.Th>Created</Table.Th>
                <Table.Th>Last used</Table.Th>
                <Table.Th>Expires</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {shown.map((token) => (
                <Table.Tr key={token.id}>
                  <Table.Td>{token.name}</Table.Td>
                  {isAdmin && everyone && <Table.Td>{token.user.username}</Table.Td>}
                  <Table.Td>
                    <Group gap={4}>
                      {token.scopes.map((s) => (
                        <Badge key={s} variant="light" size="sm">
                          {s}
                        </Badge>
                      ))}
                    </Group>
                  </Table.Td>
                  <Table.Td>{formatTime(token.createdAt)}</Table.Td>
                  <Table.Td>{formatAgo(token.lastUsedAt)}</Table.Td>
                  <Table.Td>{token.expiresAt ? formatTime(token.expiresAt) : 'never'}</Table.Td>
                  <Table.Td>
                    {token.revokedAt ? (
                      <Badge color="gray">revoked</Badge>
                    ) : (
                      <Button
                        size="xs"
                        color="red"
                        variant="light"
                        aria-label={`Revoke ${token.name}`}
                        onClick={async () => {
                          if (
                            !window.confirm(`Revoke the token "${token.name}"? Programs using it stop working at once.`)
                          )
                            return;
                          await revoke({ id: token.id });
                          reload({ requestPolicy: 'network-only' });
                        }}
                      >
                        Revoke
                      </Button>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {control}
      <Modal
        opened={opened}
        onClose={() => {
          // Shown once: gone from the page as soon as the dialog closes.
          setSecret(null);
          close();
        }}
        title={secret ? 'Your new token' : 'New token'}
        size="lg"
      >
        {secret ? (
          <Stack>
            <Alert color="yellow" title="Copy it now" role="status">
              This is the only time the token is shown. Switchboard keeps only a hash of it.
            </Alert>
            <Code block data-testid="new-token">
              {secret}
            </Code>
            <Group justify="flex-end">
              <CopyButton value={secret}>
                {({ copied, copy }) => (
                  <Button leftSection={<IconCopy size={16} />} onClick={copy}>
                    {copied ? 'Copied' : 'Copy'}
                  </Button>
                )}
              </CopyButton>
              <Button
                variant="default"
                onClick={() => {
                  setSecret(null);
                  close();
                }}
              >
                Done
              </Button>
            </Group>
          </Stack>
        ) : (
          <form
            onSubmit={async (event) => {
              event.preventDefault();
              const answer = await create({ input: { name: name.trim(), scopes } });
              const result = answer.data?.createToken;
              if (result?.__typename === 'CreateTokenSuccess') {
                setSecret(result.created.secret);
                reload({ requestPolicy: 'network-only' });
              }
            }}
          >
            <Stack>
              <TextInput
                label="Name"
                required
                value={name}
                onChange={(e) => setName(e.currentTarget.value)}
                error={fieldError(problem, 'name')}
              />
              <Checkbox.Group
                label="Scopes"
                description="What the token may do"
                value={scopes}
                onChange={setScopes}
                error={fieldError(problem, 'scopes')}
              >
                <Stack gap={6} mt="xs">
                  {(data?.scopes ?? []).map((scope) => (
                    <Checkbox key={scope} value={scope} label={scope} />
                  ))}
                </Stack>
              </Checkbox.Group>
              <ErrorNote error={created.error} problem={problem} />
              <Group justify="flex-end">
                <Button variant="default" onClick={close}>
                  Cancel
                </Button>
                <Button type="submit" loading={created.fetching}>
                  Create token
                </Button>
              </Group>
            </Stack>
          </form>
        )}
      </Modal>
    </>
  );
}

export default function TokensPage() {
  return (
    <ConsoleShell title="Tokens">
      <Suspense>
        <Tokens />
      </Suspense>
    </ConsoleShell>
  );
}
