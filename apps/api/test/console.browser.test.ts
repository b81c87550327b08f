import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AxeBuilder } from '@axe-core/playwright';
import { sign } from '@octokit/webhooks-methods';
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Locator,
  type Page,
  type WebSocketRoute,
} from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, factories, startTestServer, type TestServer, uniqueName } from './harness.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const SCREENSHOTS = join(root, 'docs', 'screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SIZES = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 },
};

/** Waits until the locator's first match is visible. */
const visible = (locator: Locator, timeout = 15_000) => locator.first().waitFor({ state: 'visible', timeout });

/** Waits until the locator's first match holds the text. */
async function holds(locator: Locator, text: string, timeout = 15_000) {
  await expect.poll(async () => (await locator.first().textContent()) ?? '', { timeout }).toContain(text);
}

/**
 * The console in a real browser (Debian's Chromium through playwright-core), against a real
 * server on its own database: the console's static export served by the API at `/`. The browser
 * does not depend on the database, so these run once, on Postgres.
 */
describe.skipIf(process.env.TEST_DB === 'pglite')('the console in a browser', { timeout: 90_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  let admin: BrowserContext;
  let page: Page;
  const queue = uniqueName('github');
  const secret = 'It is a secret to everybody';
  /** The page's graphql-ws sockets, as the browser sees them; closed to take the page offline. */
  const sockets: WebSocketRoute[] = [];
  let offline = false;

  async function post(seq: number) {
    const body = JSON.stringify({ action: 'opened', number: seq, repository: { full_name: 'octo/hello' } });
    const response = await fetch(`${server.url}/q/${queue}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'pull_request',
        'x-github-delivery': `delivery-${seq}`,
        'x-hub-signature-256': await sign(secret, body),
      },
      body,
    });
    expect(response.status).toBe(200);
  }

  /** Checks the page as it is now with axe-core: no serious or critical violation. */
  async function accessible(target: Page, name: string) {
    const result = await new AxeBuilder({ page: target }).analyze();
    const bad = result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${name}: ${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    expect(bad).toEqual([]);
  }

  /** A screenshot at desktop and at phone width, then back to desktop. */
  async function screenshots(target: Page, name: string) {
    for (const [size, viewport] of Object.entries(SIZES)) {
      await target.setViewportSize(viewport);
      await target.waitForTimeout(150);
      await target.screenshot({ path: join(SCREENSHOTS, `${name}-${size}.png`) });
    }
    await target.setViewportSize(SIZES.desktop);
  }

  async function signIn(context: BrowserContext, username: string, password: string): Promise<Page> {
    const tab = await context.newPage();
    await tab.goto(`${server.url}/queues/`);
    await tab.waitForURL(/\/login\/\?next=/);
    await tab.getByLabel('Username').fill(username);
    await tab.locator('input[type="password"]').fill(password);
    await tab.getByRole('button', { name: 'Sign in' }).click();
    await tab.getByRole('heading', { name: 'Queues' }).waitFor();
    return tab;
  }

  beforeAll(async () => {
    // The console's production build, made once per change of its sources (as npm start does).
    const built = spawnSync('node', [join(root, 'apps/console/scripts/ensure-build.mjs'), '--strict'], {
      encoding: 'utf8',
    });
    if (built.status !== 0) throw new Error(`the console did not build:\n${built.stdout}\n${built.stderr}`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    server = await startTestServer();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    admin = await browser.newContext({ viewport: SIZES.desktop, colorScheme: 'light' });
    admin.setDefaultTimeout(15_000);
    await admin.routeWebSocket(/\/graphql$/, (ws) => {
      if (offline) {
        void ws.close({ code: 1001, reason: 'offline' });
        return;
      }
      ws.connectToServer();
      sockets.push(ws);
    });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('signs in, and a wrong password is answered with the API message where it was typed', async () => {
    const context = await browser.newContext({ viewport: SIZES.desktop, colorScheme: 'light' });
    const tab = await context.newPage();
    await tab.goto(`${server.url}/login/`);
    await tab.getByLabel('Username').fill(ADMIN.username);
    await tab.locator('input[type="password"]').fill('not the password');
    await tab.getByRole('button', { name: 'Sign in' }).click();
    await holds(tab.getByRole('alert'), 'Not signed in');
    await accessible(tab, 'login');
    await screenshots(tab, 'login');
    await context.close();

    page = await signIn(admin, ADMIN.username, ADMIN.password);
    await visible(page.getByText('No queues yet'));
  });

  it('creates a queue with GitHub verification and shows a signed webhook live, without reload', async () => {
    await page.getByRole('button', { name: 'New queue' }).click();
    await page.getByLabel('Name').fill(queue);
    expect(await page.getByLabel('Verification').first().inputValue()).toMatch(/GitHub/);
    await page.getByLabel('Secret').fill(secret);
    await page.getByRole('button', { name: 'Create queue' }).click();
    await page.waitForURL(new RegExp(`/queue/\\?name=${queue}$`));
    await visible(page.getByText('Live', { exact: true }));
    await visible(page.getByText('No messages yet'));

    const navigations: string[] = [];
    page.on('framenavigated', (frame) => navigations.push(frame.url()));
    await post(1);
    await visible(page.locator('tr[data-seq="1"]'));
    await holds(page.locator('tr[data-seq="1"]'), 'octo/hello');
    expect(navigations).toEqual([]);
  });

  it('after its WebSocket is killed for 2 s while 20 more arrive, shows all 20 once, in order', async () => {
    offline = true;
    for (const ws of sockets.splice(0)) await ws.close({ code: 1001, reason: 'network lost' });
    await visible(page.getByText(/Reconnecting/));
    for (let seq = 2; seq <= 21; seq++) await post(seq);
    await page.waitForTimeout(2000);
    offline = false;

    await visible(page.getByText('Live', { exact: true }));
    await expect.poll(() => page.locator('tbody tr[data-seq]').count(), { timeout: 15_000 }).toBe(21);
    const seqs = await page
      .locator('tbody tr[data-seq]')
      .evaluateAll((rows) => rows.map((r) => Number(r.getAttribute('data-seq'))));
    // Newest first, every one exactly once.
    expect(seqs).toEqual(Array.from({ length: 21 }, (_, i) => 21 - i));
    await accessible(page, 'queue');
    await screenshots(page, 'queue');
  });

  it('pauses: new messages wait behind an "n new" marker until shown', async () => {
    await page.getByRole('button', { name: 'Pause' }).click();
    await post(22);
    await post(23);
    await visible(page.getByRole('button', { name: '2 new' }));
    expect(await page.locator('tr[data-seq="22"]').count()).toBe(0);
    await page.getByRole('button', { name: '2 new' }).click();
    await visible(page.locator('tr[data-seq="23"]'));
    await visible(page.locator('tr[data-seq="22"]'));
  });

  it('opens the inspector on a message: headers, the JSON body pretty-printed, size and source', async () => {
    await page.locator('tr[data-seq="1"] a').click();
    await page.waitForURL(/\/message\/\?queue=.*&seq=1$/);
    await visible(page.getByText('x-github-delivery'));
    await visible(page.getByText('delivery-1'));
    const body = page.getByTestId('message-body');
    await holds(body, '"action": "opened"');
    await holds(body, '"full_name": "octo/hello"');
    await visible(page.getByText('passed: github'));
    await visible(page.getByText('127.0.0.1', { exact: true }));
    await accessible(page, 'message');
    await screenshots(page, 'message');
  });

  it('lists the queues with their counts', async () => {
    await page.goto(`${server.url}/queues/`);
    const row = page.getByRole('row', { name: new RegExp(queue) });
    await holds(row, '23');
    await holds(row, 'github');
    await accessible(page, 'queues');
    await screenshots(page, 'queues');
  });

  it('creates a token and shows its secret once', async () => {
    await page.goto(`${server.url}/tokens/`);
    await page.getByRole('button', { name: 'New token' }).click();
    await page.getByLabel('Name').fill('ci');
    await page.getByRole('checkbox', { name: 'queues:read' }).check();
    await page.getByRole('button', { name: 'Create token' }).click();
    const shown = (await page.getByTestId('new-token').textContent())?.trim() ?? '';
    expect(shown).toMatch(/^sb_[0-9A-Za-z]+_[0-9A-Za-z]+$/);
    // It works, as any token does.
    const me = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${shown}` },
      body: JSON.stringify({ query: '{ me { username } }' }),
    });
    expect(await me.json()).toEqual({ data: { me: { username: ADMIN.username } } });
    await page.getByRole('button', { name: 'Done' }).click();
    await holds(page.getByRole('row', { name: /ci/ }), 'queues:read');
    await expect.poll(() => page.content()).not.toContain(shown);
    await page.reload();
    await visible(page.getByRole('row', { name: /ci/ }));
    expect(await page.content()).not.toContain(shown);
    await accessible(page, 'tokens');
    await screenshots(page, 'tokens');
  });

  it('shows clients, users and the account page to an admin', async () => {
    await page.goto(`${server.url}/clients/`);
    await visible(page.getByText('No clients yet'));
    await page.getByRole('button', { name: 'Listen to a queue' }).click();
    await page.getByLabel('Client name').fill('reader');
    await page.getByRole('dialog').getByRole('combobox', { name: 'Queue' }).click();
    await page.getByRole('option', { name: queue }).click();
    await page.getByRole('button', { name: 'Listen', exact: true }).click();
    const row = page.getByRole('row', { name: /reader/ });
    await holds(row, '23');
    await holds(row, 'connected');
    await accessible(page, 'clients');
    await screenshots(page, 'clients');

    await page.goto(`${server.url}/users/`);
    await visible(page.getByRole('row', { name: new RegExp(ADMIN.username) }));
    await accessible(page, 'users');
    await screenshots(page, 'users');

    await page.goto(`${server.url}/account/`);
    await visible(page.getByText(`Signed in as ${ADMIN.username}`));
    await accessible(page, 'account');
    await screenshots(page, 'account');
  });

  it('refuses a member the users page, and the API refuses them too', async () => {
    const member = await factories(server.core).user({ role: 'member' });
    const context = await browser.newContext({ viewport: SIZES.desktop, colorScheme: 'light' });
    const tab = await signIn(context, member.user.username, member.password);
    expect(await tab.getByRole('link', { name: 'Users' }).count()).toBe(0);
    await tab.goto(`${server.url}/users/`);
    await holds(tab.getByRole('alert'), 'Only admins manage users');
    expect(await tab.getByRole('row').count()).toBe(0);
    const answer = await context.request.post(`${server.url}/graphql`, {
      headers: { 'content-type': 'application/json' },
      data: { query: '{ users { totalCount } }' },
    });
    const body = (await answer.json()) as { data: unknown; errors?: Array<{ extensions?: { code?: string } }> };
    expect(body.data).toBeNull();
    expect(body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    await accessible(tab, 'users-member');
    await context.close();
  });
});
