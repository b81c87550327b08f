'use client';

import { Alert, Button, Center, Paper, PasswordInput, Stack, TextInput, Title } from '@mantine/core';
import { useSearchParams } from 'next/navigation';
import { Suspense, useState } from 'react';
import { useMutation } from 'urql';
import { ErrorNote, problemOf } from '../../src/components/problems';
import { graphql } from '../../src/gql';

const LoginDocument = graphql(`
  mutation Login($username: String!, $password: String!) {
    login(username: $username, password: $password) {
      __typename
      ... on LoginSuccess {
        session {
          expiresAt
        }
      }
      ... on RateLimitedError {
        message
        retryAfterSeconds
      }
      ...Problem
    }
  }
`);

function LoginForm() {
  const params = useSearchParams();
  const [result, login] = useMutation(LoginDocument);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [refusal, setRefusal] = useState<string | null>(null);
  // Only a path on this origin: a link cannot send someone elsewhere after they sign in.
  const requested = params.get('next') ?? '/queues/';
  const next = requested.startsWith('/') && !requested.startsWith('//') ? requested : '/queues/';

  return (
    <Center mih="100vh" p="md">
      <Paper withBorder p="xl" w="100%" maw={380} component="main">
        <form
          onSubmit={async (event) => {
            event.preventDefault();
            setRefusal(null);
            const answer = await login({ username, password });
            const data = answer.data?.login;
            if (data?.__typename === 'LoginSuccess') {
              window.location.assign(next);
            } else if (data?.__typename === 'RateLimitedError') {
              setRefusal(`${data.message} (try again in ${data.retryAfterSeconds} s)`);
            } else {
              setRefusal(problemOf(data)?.message ?? null);
            }
          }}
        >
          <Stack>
            <Title order={1} size="h2">
              Sign in to Switchboard
            </Title>
            <TextInput
              label="Username"
              autoComplete="username"
              required
              autoFocus
              value={username}
              onChange={(e) => setUsername(e.currentTarget.value)}
            />
            <PasswordInput
              label="Password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.currentTarget.value)}
            />
            {refusal && (
              <Alert color="red" role="alert" title="Not signed in">
                {refusal}
              </Alert>
            )}
            <ErrorNote error={result.error} />
            <Button type="submit" loading={result.fetching}>
              Sign in
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}

export default function LoginPage() {
  return (
    <Suspense>
      <LoginForm />
    </Suspense>
  );
}
