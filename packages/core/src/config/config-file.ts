import { parse } from 'yaml';
import { z } from 'zod';
import { isKnownPasswordFormat } from '../auth/passwords.ts';
import { type ParsedWebhooks, parseWebhooks, toConfigProblems } from '../compat/servo-webhooks.ts';
import { isWebhookProxyFile, parseWebhookProxyFile } from '../compat/webhook-proxy.ts';
import { type QueueDefinition, queueDefinitionSchema } from '../queues/queue-definition.ts';
import type { Verification } from '../queues/verification/types.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { rememberKnownKeys } from '../shared/unknown-keys.ts';

/**
 * The declarative config file. Its first dialect is the Webhook Queue's JSON file, accepted as it
 * stands (`users`, `queues`, global limits); JSON is YAML, so the file may also be written in YAML.
 * servo-webhooks' `webhooks:` list is accepted beside it (servo-webhooks.ts). webhook-proxy's
 * `server.yml` is accepted instead of it, as a file of its own (webhook-proxy.ts). Every object is
 * strict: an unknown key refuses the file (unknown-keys.ts), as a misspelt one would otherwise be
 * dropped in silence and leave, say, a queue open to every address.
 */
const limits = {
  max_message_count: z.number().int().positive().optional(),
  max_message_size: z.number().int().positive().optional(),
  max_queue_size: z.number().int().positive().optional(),
  /** An addition of ours: drop messages older than this many seconds. */
  retention_seconds: z.number().int().positive().optional(),
};

const webhookQueueAuth = z.strictObject({
  method: z.string().optional(),
  key: z.string().optional(),
  header_name: z.string().optional(),
});

const configQueue = z.strictObject({
  name: z.string(),
  description: z.string().optional(),
  whitelist_ip: z.array(z.string()).optional(),
  auth: webhookQueueAuth.optional(),
  /** Any verification method, in Switchboard's own form; used when `auth` is absent. */
  verification: z.record(z.string(), z.unknown()).optional(),
  dedup: z.record(z.string(), z.unknown()).optional(),
  /** Ours, as a queue definition has them; queueDefinitionSchema checks them. */
  path: z.string().optional(),
  rules: z.unknown().optional(),
  actions: z.unknown().optional(),
  respond: z.string().optional(),
  response: z.unknown().optional(),
  rejected: z.string().optional(),
  ...limits,
});

const configUser = z.strictObject({
  name: z.string().min(1),
  pass_hash: z.string().refine(isKnownPasswordFormat, 'must be "plain;;<password>", "<hash>;<salt>;<hex>" or argon2'),
  can_reload: z.boolean().optional(),
  queues: z.array(z.string()).optional(),
});

const configFile = z.strictObject({
  listen_host: z.string().optional(),
  listen_port: z.number().optional(),
  users: z.array(configUser).default([]),
  queues: z.array(configQueue).default([]),
  /** Each entry is checked on its own (config-webhooks.ts), so that every problem is reported at once. */
  webhooks: z.array(z.unknown()).default([]),
  /** Who owns the webhooks' subscriptions; the oldest admin when left out. */
  webhooks_owner: z.string().min(1).optional(),
  ...limits,
});

export interface ConfigUser {
  username: string;
  passHash: string;
  canReload: boolean;
  queues: string[];
}

export interface ParsedConfig {
  queues: QueueDefinition[];
  users: ConfigUser[];
  webhooks: ParsedWebhooks;
  webhooksOwner: string | null;
  /** Things that are accepted but do nothing here, to tell the operator. */
  notices: string[];
}

/** Python's hashlib names where they differ from OpenSSL's, as Webhook Queue files use them. */
const PYTHON_HASH_NAMES: Record<string, string> = {
  sha3_224: 'sha3-224',
  sha3_256: 'sha3-256',
  sha3_384: 'sha3-384',
  sha3_512: 'sha3-512',
  blake2b: 'blake2b512',
  blake2s: 'blake2s256',
};

export function parseConfigFile(text: string): Result<ParsedConfig> {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (error) {
    return fail('INVALID', `The config file is not valid JSON or YAML: ${(error as Error).message}`);
  }
  if (isWebhookProxyFile(raw)) return readWebhookProxyFile(raw);
  const parsed = configFile.safeParse(raw ?? {}, { error: rememberKnownKeys });
  if (!parsed.success) {
    return fail('INVALID', 'The config file is not valid', { fields: toConfigProblems(parsed.error.issues) });
  }
  const file = parsed.data;
  const problems: Array<{ path: string; message: string }> = [];
  const queues: QueueDefinition[] = [];
  file.queues.forEach((queue, index) => {
    const verification = toVerification(queue.auth, queue.verification);
    if (typeof verification === 'string') {
      problems.push({ path: `queues.${index}.auth`, message: verification });
      return;
    }
    const definition: QueueDefinition = {
      name: queue.name,
      description: queue.description ?? null,
      verification,
      allowedNetworks: queue.whitelist_ip ?? [],
      maxMessageCount: queue.max_message_count ?? file.max_message_count ?? null,
      maxMessageSize: queue.max_message_size ?? file.max_message_size ?? null,
      maxQueueBytes: queue.max_queue_size ?? file.max_queue_size ?? null,
      retentionSeconds: queue.retention_seconds ?? file.retention_seconds ?? null,
      dedup: (queue.dedup as QueueDefinition['dedup']) ?? null,
      path: queue.path ?? null,
      rules: (queue.rules as QueueDefinition['rules']) ?? null,
      actions: (queue.actions as QueueDefinition['actions']) ?? [],
      respond: (queue.respond as QueueDefinition['respond']) ?? 'at-once',
      response: (queue.response as QueueDefinition['response']) ?? null,
      rejected: (queue.rejected as QueueDefinition['rejected']) ?? 'refuse',
    };
    const valid = queueDefinitionSchema.safeParse(definition, { error: rememberKnownKeys });
    if (!valid.success) {
      problems.push(...toConfigProblems(valid.error.issues, ['queues', index]));
      return;
    }
    queues.push(definition);
  });
  const names = new Set<string>();
  for (const [index, queue] of queues.entries()) {
    if (names.has(queue.name))
      problems.push({ path: `queues.${index}.name`, message: `"${queue.name}" appears twice` });
    names.add(queue.name);
  }
  const usernames = new Set<string>();
  file.users.forEach((user, index) => {
    const key = user.name.toLowerCase();
    if (usernames.has(key)) problems.push({ path: `users.${index}.name`, message: `"${user.name}" appears twice` });
    usernames.add(key);
  });
  const webhooks = parseWebhooks(file.webhooks, problems);
  if (problems.length > 0) return fail('INVALID', 'The config file is not valid', { fields: problems });

  const notices = [...webhooks.notices];
  if (file.listen_host !== undefined || file.listen_port !== undefined) {
    notices.push('listen_host and listen_port are ignored: Switchboard listens on HOST and PORT');
  }
  return ok({
    queues,
    users: file.users.map((u) => ({
      username: u.name,
      passHash: u.pass_hash,
      canReload: u.can_reload ?? false,
      queues: u.queues ?? [],
    })),
    webhooks,
    webhooksOwner: file.webhooks_owner ?? null,
    notices,
  });
}

/** webhook-proxy's file gives queues only: no users, no webhook subscriptions. */
function readWebhookProxyFile(raw: Record<string, unknown>): Result<ParsedConfig> {
  const read = parseWebhookProxyFile(raw, Object.keys(configFile.shape));
  if (!read.ok) return read;
  return ok({
    queues: read.value.queues,
    users: [],
    webhooks: { subscriptions: [], eventTypes: [], notices: [] },
    webhooksOwner: null,
    notices: read.value.notices,
  });
}

function toVerification(
  auth: z.infer<typeof webhookQueueAuth> | undefined,
  own: Record<string, unknown> | undefined,
): Verification | string {
  // As in the Webhook Queue, an auth block without a method is not considered at all.
  if (!auth?.method) return (own as Verification | undefined) ?? { method: 'none' };
  const match = /^(hmac|hash)-(.+)$/.exec(auth.method);
  if (!match) return `method "${auth.method}" is not <hmac|hash>-<hash>, such as hmac-sha256`;
  const algorithm = match[2] as string;
  if (!auth.key) return 'needs a key';
  if (!auth.header_name) return 'needs a header_name';
  return {
    method: 'webhook-queue',
    process: match[1] as 'hmac' | 'hash',
    algorithm: PYTHON_HASH_NAMES[algorithm] ?? algorithm,
    key: auth.key,
    header: auth.header_name,
  };
}
