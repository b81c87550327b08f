import { describe, expect, it } from 'vitest';
import { compileTemplate, TemplateError } from './template.ts';
import { type ActionContext, createScope, formatCtime, type ScopeInput } from './template-scope.ts';

// Expected strings below were rendered by Python's jinja2 3.1.6 with a Flask 3 request, as
// webhook-proxy renders action templates.

/** A GitHub push webhook with two commits, as GitHub sends it (fields the templates do not read trimmed). */
const push = {
  ref: 'refs/heads/main',
  before: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
  after: '0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c',
  created: false,
  deleted: false,
  forced: false,
  base_ref: null,
  compare: 'https://github.com/sample/widgets/compare/6113728f27ae...0d1a26e67d8f',
  commits: [
    {
      id: 'a10867b14bb761a232cd80139fbd4c0d33264240',
      distinct: true,
      message: 'Fix the retry schedule',
      timestamp: '2026-12-02T01:05:11+01:00',
      url: 'https://github.com/sample/widgets/commit/a10867b14bb761a232cd80139fbd4c0d33264240',
      author: { name: 'Ada Lovelace', email: 'ada@example.com', username: 'ada' },
      committer: { name: 'Ada Lovelace', email: 'ada@example.com', username: 'ada' },
      added: ['src/retry.ts'],
      removed: [],
      modified: ['src/worker.ts', 'README.md'],
    },
    {
      id: '0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c',
      distinct: true,
      message: 'Merge pull request #42 from ada/retry\n\nRetry with jitter',
      timestamp: '2026-12-02T01:09:58+01:00',
      url: 'https://github.com/sample/widgets/commit/0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c',
      author: { name: 'Ada Lovelace', email: 'ada@example.com', username: 'ada' },
      committer: { name: 'GitHub', email: 'noreply@github.com', username: 'web-flow' },
      added: [],
      removed: ['src/old-retry.ts'],
      modified: ['src/worker.ts'],
    },
  ],
  repository: {
    id: 35129377,
    name: 'widgets',
    full_name: 'sample/widgets',
    private: false,
    owner: { name: 'sample', email: 'owner@example.com', login: 'sample', id: 21031067 },
    score: 1.0,
  },
  pusher: { name: 'ada', email: 'ada@example.com' },
  sender: { login: 'ada', id: 6752317, type: 'User', site_admin: false },
};

/** Python's json.dumps spelling of the body, so `score` arrives as `1.0`. */
const pushBody = JSON.stringify(push).replace('"score":1', '"score":1.0');

function input(overrides: Partial<ScopeInput> = {}): ScopeInput {
  return {
    request: {
      method: 'POST',
      path: '/github',
      headers: {
        host: 'hooks.example.com',
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
      },
      body: Buffer.from(pushBody),
      query: { page: '2' },
      remoteAddress: '192.0.2.7',
    },
    message: { id: 'msg_01', sequence: 42, queue: 'github' },
    context: { values: {} },
    env: {},
    readFile: () => null,
    now: new Date(Date.UTC(2026, 11, 2, 1, 10, 0)),
    ...overrides,
  };
}

function render(source: string, scope: Record<string, unknown>): string {
  const template = compileTemplate(source);
  if (!template.ok) throw new Error(template.error.message);
  return template.value.render(scope);
}

function request(body: string, contentType = 'application/json'): Partial<ScopeInput> {
  const base = input().request;
  return { request: { ...base, headers: { ...base.headers, 'content-type': contentType }, body: Buffer.from(body) } };
}

describe('createScope', () => {
  it("renders webhook-proxy's GitHub push example exactly as Jinja2 does", () => {
    // The README's `message: |` block, as YAML hands it over (with its final newline).
    const log = [
      'Received a GitHub push from the {{ request.json.repository.full_name }} repo:',
      '- Pushed by {{ request.json.pusher.name }} <{{ request.json.pusher.email }}>',
      '- Commits included:',
      '{% for commit in request.json.commits %}',
      '+   {{ commit.id }}',
      '+   {{ commit.committer.name }} at {{ commit.timestamp }}',
      '+   {{ commit.message }}',
      '',
      '{% endfor %}',
      'Check this change out at {{ request.json.compare }}',
      '',
    ].join('\n');
    expect(render(log, createScope(input()))).toBe(
      'Received a GitHub push from the sample/widgets repo:\n- Pushed by ada <ada@example.com>\n- Commits included:\n\n+   a10867b14bb761a232cd80139fbd4c0d33264240\n+   Ada Lovelace at 2026-12-02T01:05:11+01:00\n+   Fix the retry schedule\n\n\n+   0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c\n+   GitHub at 2026-12-02T01:09:58+01:00\n+   Merge pull request #42 from ada/retry\n\nRetry with jitter\n\n\nCheck this change out at https://github.com/sample/widgets/compare/6113728f27ae...0d1a26e67d8f',
    );
  });

  it('looks headers up case-insensitively, as Flask does', () => {
    const source =
      "{{ request.headers['X-GitHub-Event'] }} {{ request.headers.get('x-github-event') }} {{ request.headers['X-GITHUB-DELIVERY'] }} {{ 'x-github-event' in request.headers }} {{ request.headers.get('X-Missing', 'absent') }}";
    expect(render(source, createScope(input()))).toBe('push push 72d3162e-cc78-11e3-81ab-4c9367dc0958 True absent');
  });

  it('reads the JSON body as Python does: floats stay floats, None and False print as Python', () => {
    const source =
      "{{ request.json.repository.score }} {{ request.json.repository.id }} {{ request.json.forced }} {{ request.json.base_ref }} {{ request.json.get('ref', 'd') }} {{ request.json.get('nope', 'd') }}";
    expect(render(source, createScope(input()))).toBe('1.0 35129377 False None refs/heads/main d');
    const scope = createScope(input(request('{"big": 12345678901234567, "f": 2.0, "e": 1e3}')));
    expect(
      render('{{ request.json.big }} {{ request.json.f }} {{ request.json.e }} {{ request.json|tojson }}', scope),
    ).toBe('12345678901234567 2.0 1000.0 {"big": 12345678901234567, "e": 1000.0, "f": 2.0}');
  });

  it('gives None for a body that is not JSON, and the text as data and body', () => {
    const scope = createScope(input(request('payload=1&x=2', 'application/x-www-form-urlencoded')));
    expect(render('{{ request.json }}|{{ request.data }}|{{ request.body }}', scope)).toBe(
      'None|payload=1&x=2|payload=1&x=2',
    );
  });

  it('describes the request: method, path, args, remote_addr, url', () => {
    const source =
      '{{ request.method }} {{ request.path }} {{ request.args.page }} {{ request.remote_addr }} {{ request.url }}';
    expect(render(source, createScope(input()))).toBe(
      'POST /github 2 192.0.2.7 http://hooks.example.com/github?page=2',
    );
  });

  it('gives timestamp, datetime and own_container_id as webhook-proxy does', () => {
    const scope = createScope(input());
    expect(render('{{ timestamp }}|{{ datetime }}|{{ own_container_id }}', scope)).toBe(
      '1796173800.0|Wed Dec  2 01:10:00 2026|None',
    );
    expect(formatCtime(new Date(Date.UTC(2027, 0, 15, 9, 5, 7)))).toBe('Fri Jan 15 09:05:07 2027');
  });

  it('puts the message and the extra values in scope', () => {
    const scope = createScope(input({ extra: { result: [{ name: 'web-1' }], seconds: 5 } }));
    expect(
      render('{{ message.id }}/{{ message.sequence }}/{{ message.queue }} {{ result[0].name }} {{ seconds }}', scope),
    ).toBe('msg_01/42/github web-1 5');
  });
});

describe('read_config', () => {
  const files: Record<string, string> = {
    '/var/run/secrets/github': 'OTHER_KEY=1\nGITHUB_SECRET=TopSecret \nGITHUB_SECRET=second\n',
    '/etc/app.json': '{"a": 1}\n',
  };
  const scope = createScope(
    input({ env: { GITHUB_SECRET: 'from-env', FROM_ENV: 'env-value' }, readFile: (path) => files[path] ?? null }),
  );

  it('reads a KEY=VALUE file first, then the environment, then the default', () => {
    const source =
      "{{ read_config('GITHUB_SECRET', '/var/run/secrets/github') }}|{{ read_config('OTHER', '/var/run/secrets/github', 'fallback') }}|{{ read_config('FROM_ENV') }}|{{ read_config('GITHUB_SECRET', '/missing') }}|{{ read_config('NOPE') }}|{{ read_config('NOPE', default='d') }}";
    expect(render(source, scope)).toBe('TopSecret|fallback|env-value|from-env|None|d');
  });

  it('reads a whole file with single_config, and skips the environment with fallback_to_env=false', () => {
    const source =
      "{{ read_config('APP', '/etc/app.json', single_config=true) }}|{{ read_config('FROM_ENV', '/var/run/secrets/github', fallback_to_env=false) }}";
    expect(render(source, scope)).toBe('{"a": 1}\n|None');
  });

  it('reads nothing through the object prototype', () => {
    expect(render("{{ read_config('__proto__') }} {{ read_config('toString', default='d') }}", scope)).toBe('None d');
  });
});

describe('error()', () => {
  it('raises TemplateError with its message', () => {
    const scope = createScope(input());
    expect(() => render("{{ error('Something is not right') }}", scope)).toThrow(
      new TemplateError('Something is not right'),
    );
    expect(() => render('{% if not request.json.deleted %}{% set _ = error() %}{% endif %}', scope)).toThrow(
      new TemplateError('The template called error() without a message'),
    );
  });
});

describe('context', () => {
  it('shares values between templates; set() prints None', () => {
    const context: ActionContext = { values: {} };
    const scope = createScope(input({ context }));
    expect(
      render("{% set _ = context.set('verdict', 'All good') %}{{ context.set('n', [1, {'k': none}]) }}", scope),
    ).toBe('None');
    expect(render('Previously we said {{ context.verdict }} {{ context.n }}|{{ context.missing }}|', scope)).toBe(
      "Previously we said All good [1, {'k': None}]||",
    );
    expect(context.values).toEqual({ verdict: 'All good', n: [1, { k: null }] });
    expect(JSON.parse(JSON.stringify(context.values))).toEqual(context.values);
  });

  it('reads values persisted by an earlier attempt', () => {
    const scope = createScope(input({ context: { values: { verdict: 'from before' } } }));
    expect(render('{{ context.verdict }}', scope)).toBe('from before');
  });

  it('keeps __proto__ an ordinary key and pollutes nothing', () => {
    const context: ActionContext = { values: {} };
    render("{{ context.set('__proto__', {'polluted': 'yes'}) }}", createScope(input({ context })));
    expect(Object.getPrototypeOf(context.values)).toBe(Object.prototype);
    expect(Object.keys(context.values)).toEqual(['__proto__']);
    expect(Reflect.get({}, 'polluted')).toBeUndefined();
  });

  it('refuses a function as a value', () => {
    const scope = createScope(input());
    expect(() => render("{{ context.set('f', read_config) }}", scope)).toThrow(TemplateError);
  });
});
