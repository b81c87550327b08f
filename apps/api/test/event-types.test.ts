import type { UserId } from '@switchboard/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, basic, factories, gql, startTestServer, type TestServer } from './harness.ts';

const admin = basic(ADMIN.username, ADMIN.password);
const CREATE = `mutation($input: EventTypeInput!) {
  createEventType(input: $input) {
    __typename
    ... on CreateEventTypeSuccess { eventType { name description schema archivedAt } }
    ... on Error { message }
    ... on ValidationError { fields { path message } }
  }
}`;
const invoiceSchema = {
  type: 'object',
  required: ['id', 'amount'],
  properties: {
    id: { type: 'string' },
    amount: { type: 'integer', minimum: 0 },
    email: { type: 'string', format: 'email' },
  },
};

describe('event types', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.close();
  });

  const system = () => ({
    user: { id: '' as UserId, username: 'system', role: 'admin' as const },
    via: 'system' as const,
    scopes: ['admin' as const],
  });

  it('an admin creates a type with a JSON Schema; payloads that break it are refused with every schema error', async () => {
    const created = await gql(server, CREATE, {
      authorization: admin,
      variables: { input: { name: 'invoice.paid', description: 'An invoice was paid', schema: invoiceSchema } },
    });
    expect(created.body.data?.createEventType).toEqual({
      __typename: 'CreateEventTypeSuccess',
      eventType: { name: 'invoice.paid', description: 'An invoice was paid', schema: invoiceSchema, archivedAt: null },
    });
    expect((await server.core.eventTypes.checkPayload('invoice.paid', { id: 'in_1', amount: 5 })).ok).toBe(true);
    const refused = await server.core.eventTypes.checkPayload('invoice.paid', { amount: -1, email: 'nope' });
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.error.code).toBe('INVALID');
    const problems = !refused.ok ? (refused.error.fields ?? []) : [];
    expect(problems.map((p) => p.path).sort()).toEqual(['payload', 'payload/amount', 'payload/email']);
  });

  it('refuses a bad name, a schema that is not a JSON Schema, a schema that is not an object, and a duplicate', async () => {
    const bad = await gql(server, CREATE, {
      authorization: admin,
      variables: { input: { name: 'Invoice Paid', schema: { type: 'no-such-type' } } },
    });
    expect(bad.body.data?.createEventType.__typename).toBe('ValidationError');
    expect(bad.body.data?.createEventType.fields.map((f: { path: string }) => f.path)).toEqual(['name', 'schema']);
    const notObject = await gql(server, CREATE, {
      authorization: admin,
      variables: { input: { name: 'x.y', schema: [1, 2] } },
    });
    expect(notObject.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect((await server.core.eventTypes.get(system(), 'x.y')).ok).toBe(false);
    const again = await gql(server, CREATE, { authorization: admin, variables: { input: { name: 'invoice.paid' } } });
    expect(again.body.data?.createEventType.__typename).toBe('ConflictError');
  });

  it('members see the types but cannot create, change or archive them', async () => {
    const member = await factories(server.core).user();
    const seen = await gql(server, '{ eventTypes { name } }', { authorization: member.authorization });
    expect(seen.body.data?.eventTypes).toEqual([{ name: 'invoice.paid' }, { name: 'subscription.disabled' }]);
    const created = await gql(server, CREATE, {
      authorization: member.authorization,
      variables: { input: { name: 'member.made' } },
    });
    expect(created.body.data?.createEventType.__typename).toBe('ForbiddenError');
    expect((await server.core.eventTypes.get(system(), 'member.made')).ok).toBe(false);
    const changed = await gql(
      server,
      'mutation($input: EventTypeInput!) { updateEventType(input: $input) { __typename } }',
      {
        authorization: member.authorization,
        variables: { input: { name: 'invoice.paid', description: 'changed by a member', schema: { type: 'object' } } },
      },
    );
    expect(changed.body.data?.updateEventType.__typename).toBe('ForbiddenError');
    const archived = await gql(server, 'mutation { archiveEventType(name: "invoice.paid") { __typename } }', {
      authorization: member.authorization,
    });
    expect(archived.body.data?.archiveEventType.__typename).toBe('ForbiddenError');
    // Neither refused call touched the type: same description and schema, not archived.
    const after = await gql(server, '{ eventTypes { name description schema archivedAt } }', { authorization: admin });
    expect(after.body.data?.eventTypes).toContainEqual({
      name: 'invoice.paid',
      description: 'An invoice was paid',
      schema: invoiceSchema,
      archivedAt: null,
    });
    expect((await server.core.eventTypes.checkPayload('invoice.paid', { amount: -1 })).ok).toBe(false);
  });

  it('an archived type refuses new events and drops out of the list until restored', async () => {
    await gql(server, CREATE, { authorization: admin, variables: { input: { name: 'order.shipped' } } });
    const archived = await gql(
      server,
      'mutation { archiveEventType(name: "order.shipped") { __typename ... on ArchiveEventTypeSuccess { eventType { archivedAt } } } }',
      {
        authorization: admin,
      },
    );
    expect(archived.body.data?.archiveEventType.eventType.archivedAt).toEqual(expect.any(String));
    const refused = await server.core.eventTypes.checkPayload('order.shipped', {});
    expect(!refused.ok && refused.error.code).toBe('CONFLICT');
    const listed = await gql(server, '{ eventTypes { name } all: eventTypes(includeArchived: true) { name } }', {
      authorization: admin,
    });
    expect(listed.body.data?.eventTypes.map((e: { name: string }) => e.name)).not.toContain('order.shipped');
    expect(listed.body.data?.all.map((e: { name: string }) => e.name)).toContain('order.shipped');
    await gql(server, 'mutation { archiveEventType(name: "order.shipped", archived: false) { __typename } }', {
      authorization: admin,
    });
    expect((await server.core.eventTypes.checkPayload('order.shipped', {})).ok).toBe(true);
  });

  it('updating a type changes its schema; an unknown type is NOT_FOUND', async () => {
    const updated = await gql(
      server,
      'mutation($input: EventTypeInput!) { updateEventType(input: $input) { __typename ... on UpdateEventTypeSuccess { eventType { schema } } } }',
      {
        authorization: admin,
        variables: { input: { name: 'order.shipped', schema: { type: 'object', required: ['carrier'] } } },
      },
    );
    expect(updated.body.data?.updateEventType.eventType.schema).toEqual({ type: 'object', required: ['carrier'] });
    expect((await server.core.eventTypes.checkPayload('order.shipped', {})).ok).toBe(false);
    expect((await server.core.eventTypes.checkPayload('order.shipped', { carrier: 'ups' })).ok).toBe(true);
    const unknown = await gql(
      server,
      'mutation($input: EventTypeInput!) { updateEventType(input: $input) { __typename } }',
      { authorization: admin, variables: { input: { name: 'no.such', schema: { type: 'object' } } } },
    );
    expect(unknown.body.data?.updateEventType.__typename).toBe('NotFoundError');
    const check = await server.core.eventTypes.checkPayload('no.such', {});
    expect(!check.ok && check.error.code).toBe('NOT_FOUND');
  });
});
