'use client';

import { Alert, Button, Paper, PasswordInput, Stack, Text } from '@mantine/core';
import { useState } from 'react';
import { useMutation } from 'urql';
import { ErrorNote, fieldError, problemOf } from '../../src/components/problems';
import { ConsoleShell, useMe } from '../../src/components/shell';
import { graphql } from '../../src/gql';

const ChangePasswordDocument = graphql(`
  mutation ChangePassword($currentPassword: String!, $newPassword: String!) {
    changePassword(currentPassword: $currentPassword, newPassword: $newPassword) {
      __typename
      ...Problem
    }
  }
`);

function ChangePassword() {
  const me = useMe();
  const [result, change] = useMutation(ChangePasswordDocument);
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeat, setRepeat] = useState('');
  const [done, setDone] = useState(false);
  const problem = problemOf(result.data?.changePassword);
  const mismatch = repeat !== '' && repeat !== next;

  return (
    <Paper withBorder p="lg" maw={480}>
      <form
        onSubmit={async (event) => {
          event.preventDefault();
          if (mismatch) return;
          setDone(false);
          const answer = await change({ currentPassword: current, newPassword: next });
          if (answer.data?.changePassword.__typename === 'ChangePasswordSuccess') {
            setDone(true);
            setCurrent('');
            setNext('');
            setRepeat('');
          }
        }}
      >
        <Stack>
          <Text>
            Signed in as <b>{me.username}</b>. A new password ends your other sessions; this one stays signed in.
          </Text>
          <PasswordInput
            label="Current password"
            autoComplete="current-password"
            required
            value={current}
            onChange={(e) => setCurrent(e.currentTarget.value)}
            error={fieldError(problem, 'currentPassword')}
          />
          <PasswordInput
            label="New password"
            autoComplete="new-password"
            required
            value={next}
            onChange={(e) => setNext(e.currentTarget.value)}
            error={fieldError(problem, 'newPassword')}
          />
          <PasswordInput
            label="New password again"
            autoComplete="new-password"
            required
            value={repeat}
            onChange={(e) => setRepeat(e.currentTarget.value)}
            error={mismatch ? 'The two new passwords differ' : undefined}
          />
          {done && (
            <Alert color="green" role="status">
              Your password is changed.
            </Alert>
          )}
          <ErrorNote error={result.error} problem={problem} />
          <Button type="submit" loading={result.fetching} disabled={mismatch}>
            Change password
          </Button>
        </Stack>
      </form>
    </Paper>
  );
}

export default function AccountPage() {
  return (
    <ConsoleShell title="Account">
      <ChangePassword />
    </ConsoleShell>
  );
}
