import { serverAudits } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, basic, startTestServer, type TestServer } from './harness.ts';

/** Some audits introspect (`__type`), which by default needs credentials, so every request is signed in. */
const fetchSignedIn: typeof fetch = (input, init) => {
  const headers = new Headers(init?.headers);
  headers.set('authorization', basic(ADMIN.username, ADMIN.password));
  return fetch(input, { ...init, headers });
};

describe('GraphQL over HTTP: the graphql-http audit suite against the running server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server.close();
  });

  const audits = serverAudits({ url: () => `${server.url}/graphql`, fetchFn: fetchSignedIn });

  for (const audit of audits) {
    // Every audit, MUST as well as SHOULD and MAY: the server meets all of them.
    it(`${audit.id} ${audit.name}`, async () => {
      const result = await audit.fn();
      expect(result.status, 'reason' in result ? result.reason : '').toBe('ok');
    });
  }

  it('has MUST audits among them', () => {
    expect(audits.filter((a) => a.name.startsWith('MUST')).length).toBeGreaterThan(10);
  });
});
