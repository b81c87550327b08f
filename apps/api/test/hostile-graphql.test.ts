import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, basic, gql, startTestServer, type TestServer } from './harness.ts';

const admin = basic(ADMIN.username, ADMIN.password);

function post(server: TestServer, body: string, headers: Record<string, string> = {}) {
  return fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      authorization: admin,
      ...headers,
    },
    body,
  });
}

function errorMessages(body: { errors?: Array<{ message: string }> }): string {
  return (body.errors ?? []).map((e) => e.message).join(' | ');
}

describe('hostile GraphQL gets a clear 4xx, never a 500', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it('refuses an operation nested deeper than 10 levels', async () => {
    const deep = `{ ${'a { '.repeat(12)}b${' }'.repeat(12)} }`;
    const res = await gql(server, deep, { authorization: admin });
    expect(res.status).toBe(400);
    expect(errorMessages(res.body)).toMatch(/depth limit of 10/i);
  });

  it('refuses more than 20 aliases', async () => {
    const aliases = Array.from({ length: 25 }, (_, i) => `a${i}: me { id }`).join(' ');
    const res = await gql(server, `{ ${aliases} }`, { authorization: admin });
    expect(res.status).toBe(400);
    expect(errorMessages(res.body)).toMatch(/aliases limit/i);
  });

  it('refuses an operation whose cost is over the limit', async () => {
    const page = 'users(first: 100) { edges { node { id username role createdAt updatedAt passwordChangedAt } } }';
    const aliases = Array.from({ length: 19 }, (_, i) => `p${i}: ${page}`).join(' ');
    const res = await gql(server, `{ ${aliases} }`, { authorization: admin });
    expect(res.status).toBe(400);
    expect(errorMessages(res.body)).toMatch(/cost limit/i);
  });

  it('refuses a flood of directives and a flood of tokens', async () => {
    const directives = await gql(server, `{ me ${'@skip(if: false) '.repeat(40)}{ id } }`, { authorization: admin });
    expect(directives.status).toBe(400);
    expect(errorMessages(directives.body)).toMatch(/directives limit/i);
    const tokens = await gql(server, `{ me { ${'id '.repeat(3000)} } }`, { authorization: admin });
    expect(tokens.status).toBe(400);
    expect(errorMessages(tokens.body)).toMatch(/token limit/i);
  });

  it('with a plain application/json client, reports refused operations as errors with 200, as the spec asks', async () => {
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: admin },
      body: JSON.stringify({ query: `{ ${Array.from({ length: 25 }, (_, i) => `a${i}: me { id }`).join(' ')} }` }),
    });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.data).toBeUndefined();
    expect(errorMessages(body)).toMatch(/aliases limit/i);
  });

  it('answers malformed JSON with 400', async () => {
    const res = await post(server, '{"query": "{ me { id } }"');
    expect(res.status).toBe(400);
  });

  it('answers an unknown field with 400 and without suggesting field names', async () => {
    const res = await gql(server, '{ usr { id } }', { authorization: admin });
    expect(res.status).toBe(400);
    expect(errorMessages(res.body)).not.toMatch(/Did you mean/);
  });

  it('refuses a mutation over GET', async () => {
    const query = encodeURIComponent('mutation { logout }');
    const res = await fetch(`${server.url}/graphql?query=${query}`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(405);
  });

  it('answers a body over the 1 MiB limit with 413', async () => {
    const res = await post(server, JSON.stringify({ query: `{ me { id } } #${'x'.repeat(1_100_000)}` }));
    expect(res.status).toBe(413);
  });

  it('answers an unsupported content type with 415', async () => {
    // text/csv is not one of the form types a page can send without a preflight, so the refusal of
    // those (403) does not apply: this is Yoga finding no parser for the body.
    const res = await post(server, 'query=1', { 'content-type': 'text/csv' });
    expect(res.status).toBe(415);
  });

  it('never shows a stack trace in an error', async () => {
    const res = await gql(server, 'query($id: ID!) { user(id: $id) { id } }', {
      authorization: admin,
      variables: { id: 'not-a-uuid' },
    });
    const text = JSON.stringify(res.body);
    expect(res.body.errors?.length).toBeGreaterThan(0);
    expect(text).not.toMatch(/\bat .+\.(ts|js):\d+/);
    expect(text).not.toContain('stack');
  });
});
