import type { Database } from '@switchboard/db';
import { isAdmin, type Principal } from '../access/principal.ts';
import type { Clock } from '../shared/clock.ts';
import { isUniqueViolation, violatedConstraint } from '../shared/db-errors.ts';
import { parseId, parseIdList, type QueueId, type UserId } from '../shared/ids.ts';
import type { Logger } from '../shared/logger.ts';
import { CHANNELS, type PubSub } from '../shared/pubsub.ts';
import { fail, ok, type Result } from '../shared/result.ts';
import { findNul } from '../shared/text-input.ts';
import { compileQueueActions } from './actions/action-catalog.ts';
import type { ActionList } from './actions/action-definition.ts';
import { compileTemplate } from './actions/template.ts';
import { ClientStore } from './client-store.ts';
import { MessageStore } from './message-store.ts';
import {
  type Dedup,
  type QueueDefinition,
  queueDefinitionSchema,
  type ResponseDefinition,
  toFieldProblems,
} from './queue-definition.ts';
import { QueueStore } from './queue-store.ts';
import { removeMessages } from './retention.ts';
import type { RulesDefinition } from './rules/rule-definition.ts';
import { compileRules } from './rules/rules.ts';
import type { Verification } from './verification/types.ts';

export interface Queue {
  id: QueueId;
  name: string;
  description: string | null;
  verification: Verification;
  allowedNetworks: string[];
  maxMessageCount: number | null;
  maxMessageSize: number | null;
  maxQueueBytes: number | null;
  retentionSeconds: number | null;
  dedup: Dedup | null;
  path: string | null;
  rules: RulesDefinition | null;
  actions: ActionList;
  respond: 'at-once' | 'after-actions';
  response: ResponseDefinition | null;
  rejected: 'refuse' | 'store';
  dialect: 'switchboard' | 'webhook-proxy';
  managedBy: 'api' | 'config';
  lastSeq: number;
  messageCount: number;
  totalBytes: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface QueuesServiceDeps {
  db: Database;
  clock: Clock;
  logger: Logger;
  pubsub: PubSub;
  /** This process's registry, reloaded at once; other processes hear of the change by NOTIFY. */
  registry?: { reload(): Promise<void> };
  /** Messages removed per statement when a queue is deleted; small in tests. */
  deleteBatchSize?: number;
}

/** A definition checked and shaped as the queues row stores it. */
function parseDefinition(definition: QueueDefinition) {
  const parsed = queueDefinitionSchema.safeParse(definition);
  if (!parsed.success) return fail('INVALID', 'The queue is not valid', { fields: toFieldProblems(parsed.error) });
  // Stored as text and jsonb, which cannot hold a NUL.
  const nul = findNul(parsed.data);
  if (nul) return fail('INVALID', 'The queue is not valid', { fields: [nul] });
  // Patterns and templates are compiled now, so that a broken one is refused here, not met by a message.
  if (parsed.data.rules) {
    const rules = compileRules(parsed.data.rules);
    if (!rules.ok) {
      // The compiler names fields within the rules; the caller gave them under `rules`.
      const fields = rules.error.fields?.map((f) => ({ path: `rules.${f.path}`, message: f.message }));
      return fail('INVALID', `The queue's rules are not valid: ${rules.error.message}`, { fields });
    }
  }
  const answer = checkResponse(parsed.data.response);
  if (!answer.ok) return answer;
  const actions = compileQueueActions(parsed.data.actions);
  if (!actions.ok) return fail('INVALID', `The queue's actions are not valid: ${actions.error.message}`, actions.error);
  const { verification, dedup, rules, response, path, ...rest } = parsed.data;
  return ok({
    ...rest,
    verification: verification as unknown as Record<string, unknown>,
    dedup: dedup ?? null,
    rules: (rules ?? null) as Record<string, unknown> | null,
    response: (response ?? null) as Record<string, unknown> | null,
    path: path ?? null,
  });
}

/** The templates of a queue's answer, compiled now so that a broken one is refused when written. */
function checkResponse(response: ResponseDefinition | null | undefined): Result<void> {
  if (!response || 'preset' in response) return ok(undefined);
  const templates: Array<[string, string]> = [];
  if (typeof response.status === 'string') templates.push(['response.status', response.status]);
  for (const [name, value] of Object.entries(response.headers ?? {}))
    templates.push([`response.headers.${name}`, value]);
  if (response.body !== undefined) templates.push(['response.body', response.body]);
  const fields = templates.flatMap(([path, source]) => {
    const compiled = compileTemplate(source);
    return compiled.ok ? [] : [{ path, message: compiled.error.message }];
  });
  if (fields.length === 0) return ok(undefined);
  return fail('INVALID', `The queue's response is not valid: ${fields[0]?.path}: ${fields[0]?.message}`, { fields });
}

/** Whether a definition would be accepted, without writing it: the config file checks every queue before changing any. */
export function checkQueueDefinition(definition: QueueDefinition): Result<void> {
  const parsed = parseDefinition(definition);
  return parsed.ok ? ok(undefined) : parsed;
}

function nameTaken(error: unknown, definition: { name: string; path?: string | null }): Result<Queue> {
  if (isUniqueViolation(error)) {
    if (violatedConstraint(error) === 'queues_path_idx') {
      return fail('CONFLICT', `Another queue is served at ${definition.path}`);
    }
    return fail('CONFLICT', `A queue named "${definition.name}" exists`);
  }
  throw error;
}

export class QueuesService {
  private readonly store: QueueStore;
  private readonly clients: ClientStore;
  private readonly messages: MessageStore;

  constructor(private readonly deps: QueuesServiceDeps) {
    this.store = new QueueStore(deps);
    this.clients = new ClientStore(deps);
    this.messages = new MessageStore(deps);
  }

  /** Admins see every queue; others see the queues they may listen to. */
  async list(actor: Principal): Promise<Result<Queue[]>> {
    return ok(await this.store.list(actor));
  }

  async getByName(actor: Principal, name: string): Promise<Result<Queue>> {
    const queue = await this.store.findByName(actor, name);
    return queue ? ok(queue) : fail('NOT_FOUND', `No queue named "${name}"`);
  }

  async create(
    actor: Principal,
    definition: QueueDefinition,
    managedBy: 'api' | 'config' = 'api',
  ): Promise<Result<Queue>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can create queues');
    const parsed = parseDefinition(definition);
    if (!parsed.ok) return parsed;
    try {
      const queue = await this.store.insert(parsed.value, managedBy);
      await this.announce(queue.id);
      this.deps.logger.info({ queue: parsed.value.name, by: actor.user.id }, 'queue created');
      return ok(queue);
    } catch (error) {
      return nameTaken(error, parsed.value);
    }
  }

  /** Replaces the queue's definition (but for a missing `verification`); its messages, sequence and clients stay. */
  async update(actor: Principal, rawId: string, definition: QueueDefinition): Promise<Result<Queue>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can change queues');
    const id = parseId<QueueId>(rawId);
    if (!id) return fail('NOT_FOUND', 'No such queue');
    const kept = await this.store.findKept(id);
    if (!kept) return fail('NOT_FOUND', 'No such queue');
    // Secrets are never shown, so an edit that leaves verification out keeps the current one; an
    // edit that leaves out the rules and actions (an older client's) keeps them too.
    const parsed = parseDefinition({
      ...definition,
      verification: definition.verification ?? kept.verification,
      path: definition.path === undefined ? kept.path : definition.path,
      rules: definition.rules === undefined ? kept.rules : definition.rules,
      actions: definition.actions ?? kept.actions,
      respond: definition.respond ?? kept.respond,
      response: definition.response === undefined ? kept.response : definition.response,
      rejected: definition.rejected ?? kept.rejected,
      dialect: definition.dialect ?? kept.dialect,
    });
    if (!parsed.ok) return parsed;
    try {
      const queue = await this.store.update(id, parsed.value, this.deps.clock.now());
      if (!queue) return fail('NOT_FOUND', 'No such queue');
      await this.announce(id);
      return ok(queue);
    } catch (error) {
      return nameTaken(error, parsed.value);
    }
  }

  /** The queue belongs to the config file from here on: a file that stops naming it removes it. */
  async adoptForConfig(actor: Principal, id: QueueId): Promise<Result<void>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can change queues');
    await this.store.setManagedBy(id, 'config');
    return ok(undefined);
  }

  /** Removes the queue with its messages; its clients stay, `disconnected`. */
  async delete(actor: Principal, rawId: string): Promise<Result<Queue>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can delete queues');
    const id = parseId<QueueId>(rawId);
    if (!id) return fail('NOT_FOUND', 'No such queue');
    // The cascade over a large backlog would be one statement past the statement deadline, so the
    // messages go in batches first; the few that arrive meanwhile go with the queue.
    await removeMessages(
      { db: this.deps.db, queues: this.store, messages: this.messages },
      id,
      undefined,
      this.deps.deleteBatchSize,
    );
    const deleted = await this.deps.db.transaction(async (tx) => {
      await this.clients.disconnectQueue(tx, id);
      return this.store.delete(id, tx);
    });
    if (!deleted) return fail('NOT_FOUND', 'No such queue');
    await this.announce(id);
    this.deps.logger.info({ queue: deleted.name, by: actor.user.id }, 'queue deleted');
    return ok(deleted);
  }

  async listListeners(actor: Principal, rawQueueId: string): Promise<Result<UserId[]>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can see who may listen');
    const queueId = parseId<QueueId>(rawQueueId);
    if (!queueId) return ok([]);
    return ok(await this.store.listListenerIds(queueId));
  }

  /**
   * Sets who may listen. Users who lose the right have their clients of this queue disconnected.
   */
  async setListeners(actor: Principal, rawQueueId: string, rawUserIds: readonly string[]): Promise<Result<UserId[]>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can change who may listen');
    const queueId = parseId<QueueId>(rawQueueId);
    if (!queueId) return fail('NOT_FOUND', 'No such queue');
    const bad = rawUserIds.filter((id) => !parseId<UserId>(id));
    if (bad.length > 0) return fail('INVALID', `Not user ids: ${bad.join(', ')}`);
    const wanted = [...new Set(parseIdList<UserId>(rawUserIds))];
    return this.deps.db.transaction(async (tx) => {
      if (!(await this.store.exists(tx, queueId))) return fail<UserId[]>('NOT_FOUND', 'No such queue');
      await this.store.replaceListeners(tx, queueId, wanted);
      // Admins keep their clients; anyone else no longer listed is disconnected.
      await this.clients.disconnectAllBut(tx, queueId, wanted);
      return ok(wanted);
    });
  }

  /** Gives users the right to listen to queues, keeping everyone who has it already. */
  async addListeners(
    actor: Principal,
    pairs: ReadonlyArray<{ queueId: QueueId; userId: UserId }>,
  ): Promise<Result<void>> {
    if (!isAdmin(actor)) return fail('FORBIDDEN', 'Only admins can change who may listen');
    for (const { queueId, userId } of pairs) await this.store.addListener(queueId, userId);
    return ok(undefined);
  }

  async mayListen(userId: UserId, queueId: QueueId): Promise<boolean> {
    return this.store.isListener(userId, queueId);
  }

  async findIdsByNames(names: readonly string[]): Promise<Map<string, QueueId>> {
    return this.store.findIdsByNames(names);
  }

  private async announce(queueId: QueueId): Promise<void> {
    await this.deps.pubsub.notify(CHANNELS.queues, queueId);
    await this.deps.registry?.reload();
  }
}
