'use client';

import { Button, Checkbox, Group, NumberInput, PasswordInput, Select, Stack, Textarea, TextInput } from '@mantine/core';
import { useState } from 'react';
import { type FragmentType, getFragmentData, graphql } from '../gql';
import type { QueueInput, VerificationMethod } from '../gql/graphql';
import { ErrorNote, fieldError, type Problem } from './problems';

/** The provider presets and the methods of the API (docs/queues.md). */
const METHODS: Array<{ value: VerificationMethod; label: string }> = [
  { value: 'GITHUB', label: 'GitHub (X-Hub-Signature-256)' },
  { value: 'STRIPE', label: 'Stripe (Stripe-Signature)' },
  { value: 'SHOPIFY', label: 'Shopify (X-Shopify-Hmac-Sha256)' },
  { value: 'SLACK', label: 'Slack (X-Slack-Signature)' },
  { value: 'STANDARD_WEBHOOKS', label: 'Standard Webhooks / Svix' },
  { value: 'HMAC', label: 'HMAC of the body (custom header)' },
  { value: 'TOKEN', label: 'Shared token (header or query)' },
  { value: 'BASIC', label: 'HTTP Basic' },
  { value: 'WEBHOOK_QUEUE', label: 'Webhook Queue signature' },
  { value: 'NONE', label: 'None: anyone may post' },
];

const WITH_SECRET: VerificationMethod[] = ['GITHUB', 'STRIPE', 'SHOPIFY', 'SLACK', 'STANDARD_WEBHOOKS', 'HMAC'];
const WITH_TOLERANCE: VerificationMethod[] = ['STRIPE', 'SLACK', 'STANDARD_WEBHOOKS'];

/** What the form shows of a stored queue: its settings, never its secret. */
export const QueueSettingsFragment = graphql(`
  fragment QueueSettings on Queue {
    id
    name
    description
    allowedNetworks
    maxMessageCount
    maxMessageSize
    maxQueueBytes
    retentionSeconds
    dedup {
      header
      bodyHash
    }
    verification {
      method
      header
      prefix
      algorithm
      encoding
      query
      username
      process
      toleranceSeconds
    }
  }
`);

/** The form's values for a stored queue. */
export function queueFormValues(fragment: FragmentType<typeof QueueSettingsFragment>): QueueFormValues {
  const queue = getFragmentData(QueueSettingsFragment, fragment);
  const v = queue.verification;
  return {
    id: queue.id,
    name: queue.name,
    description: queue.description ?? null,
    method: v.method,
    header: v.header ?? null,
    prefix: v.prefix ?? null,
    algorithm: v.algorithm ?? null,
    encoding: v.encoding ?? null,
    query: v.query ?? null,
    username: v.username ?? null,
    process: v.process ?? null,
    toleranceSeconds: v.toleranceSeconds ?? null,
    allowedNetworks: queue.allowedNetworks,
    maxMessageCount: queue.maxMessageCount ?? null,
    maxMessageSize: queue.maxMessageSize ?? null,
    maxQueueBytes: queue.maxQueueBytes ?? null,
    retentionSeconds: queue.retentionSeconds ?? null,
    dedupHeader: queue.dedup?.header ?? null,
    dedupBodyHash: queue.dedup?.bodyHash ?? false,
  };
}

export interface QueueFormValues {
  id?: string;
  name: string;
  description: string | null;
  method: VerificationMethod;
  header: string | null;
  prefix: string | null;
  algorithm: string | null;
  encoding: string | null;
  query: string | null;
  username: string | null;
  process: string | null;
  toleranceSeconds: number | null;
  allowedNetworks: string[];
  maxMessageCount: number | null;
  maxMessageSize: number | null;
  maxQueueBytes: number | null;
  retentionSeconds: number | null;
  dedupHeader: string | null;
  dedupBodyHash: boolean;
}

export const EMPTY_QUEUE: QueueFormValues = {
  name: '',
  description: null,
  method: 'GITHUB',
  header: null,
  prefix: null,
  algorithm: null,
  encoding: null,
  query: null,
  username: null,
  process: null,
  toleranceSeconds: null,
  allowedNetworks: [],
  maxMessageCount: null,
  maxMessageSize: null,
  maxQueueBytes: null,
  retentionSeconds: null,
  dedupHeader: null,
  dedupBodyHash: false,
};

const blank = (value: string) => (value.trim() === '' ? null : value.trim());
const num = (value: string | number) => (value === '' ? null : Number(value));

/**
 * Create or edit a queue. Secrets are write-only: editing shows none, and leaving the secret empty
 * keeps the stored one (unless the method changes, which needs a new one).
 */
export function QueueForm({
  initial,
  submitLabel,
  busy,
  problem,
  onSubmit,
  onCancel,
}: {
  initial: QueueFormValues;
  submitLabel: string;
  busy: boolean;
  problem: Problem | null;
  onSubmit(input: QueueInput): void;
  onCancel?(): void;
}) {
  const editing = Boolean(initial.id);
  const [v, setV] = useState<QueueFormValues>(initial);
  const [secret, setSecret] = useState('');
  const set = <K extends keyof QueueFormValues>(key: K, value: QueueFormValues[K]) =>
    setV((s) => ({ ...s, [key]: value }));
  const methodChanged = v.method !== initial.method;
  const needsSecret = v.method !== 'NONE';
  const keepSecret = editing && !methodChanged && secret === '';

  const build = (): QueueInput => {
    const verification: Record<string, unknown> = { method: v.method };
    if (WITH_TOLERANCE.includes(v.method) && v.toleranceSeconds !== null)
      verification.toleranceSeconds = v.toleranceSeconds;
    if (v.method === 'HMAC') {
      for (const key of ['header', 'prefix', 'algorithm', 'encoding'] as const) if (v[key]) verification[key] = v[key];
    }
    if (v.method === 'TOKEN') {
      if (v.header) verification.header = v.header;
      if (v.query) verification.query = v.query;
    }
    if (v.method === 'WEBHOOK_QUEUE') {
      if (v.header) verification.header = v.header;
      if (v.process) verification.process = v.process;
    }
    if (v.method === 'BASIC') verification.username = v.username ?? '';
    if (needsSecret && secret !== '') {
      const field =
        v.method === 'TOKEN'
          ? 'token'
          : v.method === 'BASIC'
            ? 'password'
            : v.method === 'WEBHOOK_QUEUE'
              ? 'key'
              : 'secret';
      verification[field] = secret;
    }
    return {
      name: v.name.trim(),
      description: v.description,
      allowedNetworks: v.allowedNetworks,
      maxMessageCount: v.maxMessageCount,
      maxMessageSize: v.maxMessageSize,
      maxQueueBytes: v.maxQueueBytes,
      retentionSeconds: v.retentionSeconds,
      dedup: v.dedupHeader || v.dedupBodyHash ? { header: v.dedupHeader, bodyHash: v.dedupBodyHash } : null,
      ...(keepSecret ? {} : { verification: verification as QueueInput['verification'] }),
    };
  };

  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        onSubmit(build());
      }}
    >
      <Stack>
        <TextInput
          label="Name"
          description="Providers post to /q/<name>"
          required
          value={v.name}
          onChange={(e) => set('name', e.currentTarget.value)}
          error={fieldError(problem, 'name')}
        />
        <Textarea
          label="Description"
          autosize
          minRows={1}
          value={v.description ?? ''}
          onChange={(e) => set('description', blank(e.currentTarget.value))}
        />
        <Select
          label="Verification"
          data={METHODS}
          value={v.method}
          allowDeselect={false}
          onChange={(value) => value && set('method', value as VerificationMethod)}
          error={fieldError(problem, 'verification.method')}
        />
        {v.method === 'BASIC' && (
          <TextInput
            label="Username"
            required
            value={v.username ?? ''}
            onChange={(e) => set('username', blank(e.currentTarget.value))}
          />
        )}
        {needsSecret && (
          <PasswordInput
            label={
              v.method === 'TOKEN'
                ? 'Token'
                : v.method === 'BASIC'
                  ? 'Password'
                  : v.method === 'WEBHOOK_QUEUE'
                    ? 'Key'
                    : 'Secret'
            }
            description={
              keepSecret
                ? 'Leave empty to keep the stored one'
                : WITH_SECRET.includes(v.method)
                  ? 'The signing secret the provider shows you'
                  : undefined
            }
            required={!keepSecret}
            autoComplete="off"
            value={secret}
            onChange={(e) => setSecret(e.currentTarget.value)}
            error={
              fieldError(problem, 'verification.secret') ??
              fieldError(problem, 'verification.token') ??
              fieldError(problem, 'verification.key')
            }
          />
        )}
        {v.method === 'HMAC' && (
          <Group grow align="flex-start">
            <TextInput
              label="Header"
              placeholder="X-Signature"
              value={v.header ?? ''}
              onChange={(e) => set('header', blank(e.currentTarget.value))}
            />
            <TextInput
              label="Prefix"
              placeholder="sha256="
              value={v.prefix ?? ''}
              onChange={(e) => set('prefix', blank(e.currentTarget.value))}
            />
            <Select
              label="Algorithm"
              data={['sha1', 'sha256', 'sha512']}
              value={v.algorithm}
              onChange={(value) => set('algorithm', value)}
              clearable
            />
            <Select
              label="Encoding"
              data={['hex', 'base64']}
              value={v.encoding}
              onChange={(value) => set('encoding', value)}
              clearable
            />
          </Group>
        )}
        {v.method === 'TOKEN' && (
          <Group grow align="flex-start">
            <TextInput
              label="Header"
              placeholder="X-Webhook-Token"
              value={v.header ?? ''}
              onChange={(e) => set('header', blank(e.currentTarget.value))}
            />
            <TextInput
              label="Or query parameter"
              value={v.query ?? ''}
              onChange={(e) => set('query', blank(e.currentTarget.value))}
            />
          </Group>
        )}
        {v.method === 'WEBHOOK_QUEUE' && (
          <Group grow align="flex-start">
            <TextInput
              label="Header"
              value={v.header ?? ''}
              onChange={(e) => set('header', blank(e.currentTarget.value))}
            />
            <Select
              label="Process"
              data={['hmac', 'hash']}
              value={v.process}
              onChange={(value) => set('process', value)}
              clearable
            />
          </Group>
        )}
        {WITH_TOLERANCE.includes(v.method) && (
          <NumberInput
            label="Timestamp tolerance (seconds)"
            placeholder="300"
            min={1}
            value={v.toleranceSeconds ?? ''}
            onChange={(value) => set('toleranceSeconds', num(value))}
          />
        )}
        <Textarea
          label="Allowed source networks"
          description="One address or CIDR per line; empty: any address"
          autosize
          minRows={1}
          value={v.allowedNetworks.join('\n')}
          onChange={(e) =>
            set(
              'allowedNetworks',
              e.currentTarget.value
                .split('\n')
                .map((line) => line.trim())
                .filter(Boolean),
            )
          }
          error={fieldError(problem, 'allowedNetworks')}
        />
        <Group grow align="flex-start">
          <NumberInput
            label="Max messages"
            min={1}
            value={v.maxMessageCount ?? ''}
            onChange={(value) => set('maxMessageCount', num(value))}
            error={fieldError(problem, 'maxMessageCount')}
          />
          <NumberInput
            label="Max message size (bytes)"
            min={1}
            value={v.maxMessageSize ?? ''}
            onChange={(value) => set('maxMessageSize', num(value))}
            error={fieldError(problem, 'maxMessageSize')}
          />
        </Group>
        <Group grow align="flex-start">
          <NumberInput
            label="Max queue size (bytes)"
            min={1}
            value={v.maxQueueBytes ?? ''}
            onChange={(value) => set('maxQueueBytes', num(value))}
            error={fieldError(problem, 'maxQueueBytes')}
          />
          <NumberInput
            label="Keep messages for (seconds)"
            min={1}
            value={v.retentionSeconds ?? ''}
            onChange={(value) => set('retentionSeconds', num(value))}
            error={fieldError(problem, 'retentionSeconds')}
          />
        </Group>
        <Group grow align="flex-end">
          <TextInput
            label="De-duplicate by header"
            placeholder="X-GitHub-Delivery"
            value={v.dedupHeader ?? ''}
            onChange={(e) => set('dedupHeader', blank(e.currentTarget.value))}
          />
          <Checkbox
            label="De-duplicate by body hash"
            checked={v.dedupBodyHash}
            onChange={(e) => set('dedupBodyHash', e.currentTarget.checked)}
          />
        </Group>
        <ErrorNote problem={problem} />
        <Group justify="flex-end">
          {onCancel && (
            <Button variant="default" onClick={onCancel}>
              Cancel
            </Button>
          )}
          <Button type="submit" loading={busy}>
            {submitLabel}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
