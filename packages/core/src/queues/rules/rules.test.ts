import { describe, expect, it } from 'vitest';
import { type RulesDefinition, rulesSchema } from './rule-definition.ts';
import { type CompiledRules, compileRules, formatPythonFloat, formatPythonStr, type RuleInput } from './rules.ts';

function compile(definition: RulesDefinition): CompiledRules {
  const compiled = compileRules(definition);
  if (!compiled.ok) throw new Error(`refused: ${JSON.stringify(compiled.error)}`);
  return compiled.value;
}

function refusal(definition: unknown): Array<{ path: string; message: string }> {
  const compiled = compileRules(definition as RulesDefinition);
  if (compiled.ok) throw new Error('accepted');
  expect(compiled.error.code).toBe('INVALID');
  return compiled.error.fields ?? [];
}

function input(overrides: Partial<RuleInput> = {}): RuleInput {
  return { method: 'POST', headers: {}, json: {}, sourceIp: '127.0.0.1', ...overrides };
}

const checkBody = (body: RulesDefinition['body'], json: unknown) => compile({ body }).check(input({ json }));

// webhook-proxy's README, "Configuration": the short example.
const readmeShort: RulesDefinition = {
  method: 'POST',
  headers: { 'X-Sender': 'regex for X-Sender HTTP header' },
  body: {
    project: {
      name: 'regex for project.name in the JSON payload',
      items: { name: '^example_[0-9]+' },
    },
  },
};

// webhook-proxy's README, "Examples": the GitHub push endpoint's validators.
const githubPush: RulesDefinition = {
  method: 'POST',
  headers: { 'X-GitHub-Delivery': '^[0-9a-f\\-]+$', 'X-GitHub-Event': 'push' },
  body: {
    ref: 'refs/heads/.+',
    before: '^[0-9a-f]{40}',
    after: '^[0-9a-f]{40}',
    repository: { id: '^[0-9]+$', full_name: 'sample/.+', owner: { email: '.+@.+\\..+' } },
    commits: {
      id: '^[0-9a-f]{40}',
      message: '.+',
      author: { name: '.+' },
      added: '^(src/.+)?',
      removed: '^(src/.+)?',
    },
    pusher: { name: '.+', email: '.+@.+\\..+' },
  },
};

const person = { name: 'Octo Cat', email: 'octocat@example.com', username: 'octocat' };
function commit(id: string, message: string, added: string[], removed: string[] = []) {
  const files = { added, removed, modified: ['src/app.py'] };
  const url = `https://github.com/sample/webhook-test/commit/${id}`;
  return {
    id,
    tree_id: 'a'.repeat(40),
    distinct: true,
    message,
    timestamp: '2024-05-01T10:00:00+02:00',
    url,
    author: person,
    committer: person,
    ...files,
  };
}

function pushPayload() {
  const commits = [
    commit('0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c', 'Add the handler\n\nWith tests.', ['src/handler.py']),
    commit('6113728f27ae82c7b1a177c8d03f9e96e0adf246', 'Remove the old script', [], ['src/old.sh']),
  ];
  return {
    ref: 'refs/heads/main',
    before: '9049f1265b7d61be4a8904a9a27120d2064dab3b',
    after: '6113728f27ae82c7b1a177c8d03f9e96e0adf246',
    repository: {
      id: 186853002,
      node_id: 'MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=',
      name: 'webhook-test',
      full_name: 'sample/webhook-test',
      private: false,
      owner: { name: 'sample', email: 'owner@example.com', login: 'sample', id: 21031067, type: 'Organization' },
      html_url: 'https://github.com/sample/webhook-test',
      stargazers_count: 0,
      default_branch: 'main',
      topics: [],
    },
    pusher: { name: 'octocat', email: 'octocat@example.com' },
    sender: { login: 'octocat', id: 583231, type: 'User', site_admin: false },
    created: false,
    deleted: false,
    forced: false,
    base_ref: null,
    compare: 'https://github.com/sample/webhook-test/compare/9049f1265b7d...6113728f27ae',
    commits,
    head_commit: commits[1],
  };
}

const githubHeaders = {
  'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
  'x-github-event': 'push',
  'user-agent': 'GitHub-Hookshot/044aadd',
};

describe('webhook-proxy README examples', () => {
  it('accepts the short example body, its list items checked one by one', () => {
    const rules = compile(readmeShort);
    const json = { project: { name: 'regex for project.name in the JSON payload', items: [{ name: 'example_12' }] } };
    const headers = { 'x-sender': 'regex for X-Sender HTTP header' };
    expect(rules.check(input({ headers, json }))).toBeNull();
    json.project.items.push({ name: 'sample_3' });
    expect(rules.check(input({ headers, json }))).toEqual({
      rule: 'body.project.items.name',
      field: 'project.items[1].name',
      message: 'body field "project.items[1].name": "sample_3" does not match "^example_[0-9]+"',
    });
  });

  it('accepts a realistic GitHub push with the GitHub example rules', () => {
    const rules = compile(githubPush);
    expect(rules.needsJson).toBe(true);
    expect(rules.methods).toEqual(['POST']);
    expect(rules.check(input({ headers: githubHeaders, json: pushPayload() }))).toBeNull();
  });

  it('names the one commit whose id is bad', () => {
    const json = pushPayload();
    json.commits[1] = { ...json.commits[1]!, id: 'not-a-sha' };
    expect(compile(githubPush).check(input({ headers: githubHeaders, json }))).toEqual({
      rule: 'body.commits.id',
      field: 'commits[1].id',
      message: 'body field "commits[1].id": "not-a-sha" does not match "^[0-9a-f]{40}"',
    });
  });

  it('refuses another event, another namespace, a missing delivery header', () => {
    const rules = compile(githubPush);
    const ping = rules.check(input({ headers: { ...githubHeaders, 'x-github-event': 'ping' }, json: pushPayload() }));
    expect(ping?.rule).toBe('headers.X-GitHub-Event');
    expect(ping?.field).toBe('X-GitHub-Event header');
    expect(ping?.message).toBe('header "X-GitHub-Event": "ping" does not match "push"');
    const json = pushPayload();
    json.repository.full_name = 'other/webhook-test';
    expect(rules.check(input({ headers: githubHeaders, json }))?.field).toBe('repository.full_name');
    const { 'x-github-delivery': _, ...withoutDelivery } = githubHeaders;
    expect(rules.check(input({ headers: withoutDelivery, json: pushPayload() }))?.message).toBe(
      'header "X-GitHub-Delivery" is missing ("" does not match "^[0-9a-f\\-]+$")',
    );
  });

  it("runs the /docker endpoint's rules of webhook-proxy's sample.yml", () => {
    const rules = compile({
      headers: { 'X-Test': '123' },
      body: { callback_url: 'https://.+', repository: { repo_name: '^[0-9a-z_\\-]+/[0-9a-z_\\-]+$' } },
    });
    const json = {
      callback_url: 'https://registry.hub.docker.com/u/sample/cb/',
      repository: { repo_name: 'sample/web-app' },
    };
    expect(rules.check(input({ headers: { 'x-test': '1234' }, json }))).toBeNull();
    const upper = { ...json, repository: { repo_name: 'Sample/web-app' } };
    expect(rules.check(input({ headers: { 'x-test': '123' }, json: upper }))?.field).toBe('repository.repo_name');
  });

  it('lets `^(src/.+)?` pass any path, as re.match does: the optional group matches nothing', () => {
    const json = pushPayload();
    json.commits[0]!.added = ['docs/README.md'];
    expect(compile(githubPush).check(input({ headers: githubHeaders, json }))).toBeNull();
    const strict = compile({ body: { commits: { added: '^src/.+$' } } });
    expect(strict.check(input({ json }))?.field).toBe('commits[0].added[0]');
  });
});

describe('re.match semantics', () => {
  const matches = (pattern: string, value: string) => checkBody({ v: pattern }, { v: value }) === null;

  it('anchors at the start only', () => {
    expect(matches('push', 'pushed')).toBe(true);
    expect(matches('push', 'a push')).toBe(false);
    expect(matches('^x$', 'x')).toBe(true);
    expect(matches('^x$', 'xy')).toBe(false);
    // The anchor covers every alternative, not only the first.
    expect(matches('a|b', 'b')).toBe(true);
    expect(matches('a|b', 'cb')).toBe(false);
  });

  it('reads multi-line values as Python does', () => {
    expect(matches('.+', 'first line\nsecond')).toBe(true);
    expect(matches('^x$', 'x\ny')).toBe(false);
    // Python's `$` also matches before a newline that ends the value; `\Z` only at the end.
    expect(matches('^x$', 'x\n')).toBe(true);
    expect(matches('^x\\Z', 'x\n')).toBe(false);
    expect(matches('^x\\Z', 'x')).toBe(true);
    expect(matches('[$]', '$')).toBe(true);
    expect(matches('\\$', '$')).toBe(true);
    // A multi-line flag in the pattern does not move the match off the start.
    expect(matches('(?m)^b', 'a\nb')).toBe(false);
    expect(matches('(?m)a$', 'a\nb')).toBe(true);
  });

  it('tests headers case-insensitively, a missing one as ""', () => {
    const rules = compile({ headers: { 'X-Token': '^$', constructor: '^$' } });
    expect(rules.check(input())).toBeNull();
    expect(rules.check(input({ headers: { 'x-token': 'set' } }))?.rule).toBe('headers.X-Token');
  });
});

describe('values as Python prints them', () => {
  it.each([
    [0, '0'],
    [42, '42'],
    [-7, '-7'],
    [1.5, '1.5'],
    [0.1 + 0.2, '0.30000000000000004'],
    [0.0001, '0.0001'],
    [0.00001, '1e-05'],
    [-2.5e-7, '-2.5e-07'],
    [123456789012.5, '123456789012.5'],
    [1e20, '1e+20'],
    [2 ** 53 + 2, '9007199254740994.0'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
  ])('prints %s as %s', (value, printed) => {
    expect(formatPythonFloat(value)).toBe(printed);
  });

  it('prints booleans, None, lists and dicts', () => {
    expect(formatPythonStr(true)).toBe('True');
    expect(formatPythonStr(null)).toBe('None');
    expect(formatPythonStr({ a: 1, b: [false, null, "it's", 'a\nb'] })).toBe(
      `{'a': 1, 'b': [False, None, "it's", 'a\\nb']}`,
    );
    expect(formatPythonStr('plain')).toBe('plain');
  });

  it('checks numbers and booleans as their printed text', () => {
    expect(checkBody({ id: '^[0-9]+$' }, { id: 186853002 })).toBeNull();
    expect(checkBody({ id: '^[0-9]+$' }, { id: 1.5 })?.message).toBe(
      'body field "id": "1.5" does not match "^[0-9]+$"',
    );
    expect(checkBody({ private: '^False$' }, { private: false })).toBeNull();
    expect(checkBody({ base: '^None$' }, { base: null })).toBeNull();
    expect(checkBody({ tags: "^\\['a'\\]$" }, { tags: [['a']] })).toBeNull();
  });
});

describe('body fields', () => {
  it('treats a missing field as "", and as {} under a mapping rule', () => {
    expect(checkBody({ added: '^(src/.+)?' }, {})).toBeNull();
    expect(checkBody({ repository: { id: '.+' } }, {})).toEqual({
      rule: 'body.repository.id',
      field: 'repository.id',
      message: 'body field "repository.id" is missing ("" does not match ".+")',
    });
    expect(checkBody({ toString: '^$' }, {})).toBeNull();
  });

  it('passes an empty list whatever its rules', () => {
    expect(checkBody({ commits: { id: '^[0-9a-f]{40}' } }, { commits: [] })).toBeNull();
  });

  it('refuses a mapping rule against a value that is not an object', () => {
    expect(checkBody({ project: { name: '.+' } }, { project: 'x' })?.message).toBe(
      'body field "project" is the string "x", but its rules expect an object with name',
    );
    expect(checkBody({ project: { name: '.+' } }, { project: null })?.field).toBe('project');
    expect(checkBody({ tags: { name: '.+' } }, { tags: [['a']] })?.field).toBe('tags[0]');
  });

  it('needs a JSON object body for body rules, and only for them', () => {
    expect(compile({ headers: { 'X-A': '.*' }, body: {} }).needsJson).toBe(false);
    expect(compile({ not: { body: { a: 'b' } } }).needsJson).toBe(true);
    expect(compile({ body: {} }).check(input({ json: undefined }))).toBeNull();
    expect(checkBody({ a: '.*' }, undefined)?.message).toBe('the body is not JSON, so its fields cannot be checked');
    expect(checkBody({ a: '.*' }, [1])?.message).toBe(
      'the body is a list, not a JSON object, so its fields cannot be checked',
    );
  });
});

describe('combinations, method and source', () => {
  const rules = compile({
    any: [{ headers: { 'X-Sender': '^ci$' } }, { all: [{ method: 'put' }, { body: { project: { name: '^web' } } }] }],
    not: { headers: { 'X-Test': 'yes' } },
  });

  it('holds when one branch of `any` holds and `not` does not', () => {
    expect(rules.check(input({ headers: { 'x-sender': 'ci' } }))).toBeNull();
    expect(rules.check(input({ method: 'PUT', json: { project: { name: 'website' } } }))).toBeNull();
    expect(rules.methods).toBeNull();
  });

  it('names the failing rule when no branch holds, and the `not` that refuses', () => {
    const failure = rules.check(input({ method: 'PUT', json: { project: { name: 'api' } } }));
    expect(failure?.rule).toBe('any[0].headers.X-Sender');
    expect(failure?.message).toMatch(
      /^none of the 2 rules of "any" holds; the first fails: header "X-Sender" is missing/,
    );
    const inner = compile({ any: [{ method: 'GET' }, { body: { project: { name: '^web' } } }] });
    expect(inner.check(input({ json: { project: { name: 'api' } } }))?.rule).toBe('any[0].method');
    const allFails = compile({ all: [{}, { body: { project: { name: '^web' } } }] });
    expect(allFails.check(input({ json: {} }))?.rule).toBe('all[1].body.project.name');
    const refused = rules.check(input({ headers: { 'x-sender': 'ci', 'x-test': 'yes' } }));
    expect(refused).toEqual({ rule: 'not', field: 'message', message: 'the message matches the rule under "not"' });
  });

  it('holds for an empty rule', () => {
    expect(compile({}).check(input({ method: 'DELETE', json: undefined, sourceIp: undefined }))).toBeNull();
  });

  it('checks the method in any case', () => {
    const methods = compile({ method: ['post', 'Put'] });
    expect(methods.methods).toEqual(['POST', 'PUT']);
    expect(methods.check(input({ method: 'put' }))).toBeNull();
    expect(methods.check(input({ method: 'GET' }))).toEqual({
      rule: 'method',
      field: 'method',
      message: 'method "GET" is not allowed: expected POST or PUT',
    });
  });

  it('checks the sender address against addresses and networks', () => {
    const source = compile({ source: ['10.0.0.0/8', '::1'] });
    expect(source.check(input({ sourceIp: '10.1.2.3' }))).toBeNull();
    expect(source.check(input({ sourceIp: '::ffff:10.1.2.3' }))).toBeNull();
    expect(source.check(input({ sourceIp: '::1' }))).toBeNull();
    expect(source.check(input({ sourceIp: '192.168.1.1' }))?.message).toBe(
      'sender address "192.168.1.1" is not in 10.0.0.0/8, ::1',
    );
    expect(source.check(input({ sourceIp: undefined }))?.rule).toBe('source');
  });
});

describe('refused rules', () => {
  it('refuses a pattern RE2 cannot run, naming its path', () => {
    const fields = refusal({ any: [{}, { body: { project: { name: '(a)\\1' } } }] });
    expect(fields).toEqual([{ path: 'any[1].body.project.name', message: expect.stringMatching(/backreference/) }]);
    expect(refusal({ headers: { 'X-A': 'foo(?=bar)' } })[0]?.path).toBe('headers.X-A');
  });

  it('refuses a pattern that would close the anchoring group', () => {
    expect(refusal({ body: { a: 'a)|(b' } })[0]?.path).toBe('body.a');
  });

  it('refuses bad addresses, methods, shapes and unknown keys with their paths', () => {
    expect(refusal({ source: ['10.0.0.0/8', '10.0.0.0/33'] })[0]?.path).toBe('source[1]');
    expect(refusal({ method: ['POST', 'P OST'] })[0]).toEqual({
      path: 'method[1]',
      message: expect.stringMatching(/method/),
    });
    expect(refusal({ headerz: {} })[0]).toEqual({ path: 'headerz', message: expect.stringMatching(/"headers"/) });
    expect(refusal({ body: { repository: { id: 123 } } })[0]).toEqual({
      path: 'body.repository.id',
      message: expect.stringMatching(/quote it in YAML: '123'/),
    });
    expect(refusal({ body: { added: ['src/a'] } })[0]?.message).toMatch(/not a list/);
    expect(refusal({ any: [] })[0]?.path).toBe('any');
    expect(refusal({ body: 'x' })[0]?.path).toBe('body');
    expect(refusal({ headers: { 'X-A': 'a'.repeat(300) } })[0]?.message).toMatch(/at most \d+ characters/);
  });

  it('bounds nesting and the number of patterns', () => {
    let deep: RulesDefinition = { method: 'POST' };
    for (let i = 0; i < 17; i++) deep = { not: deep };
    expect(refusal(deep)[0]?.message).toMatch(/deeper than 16/);
    expect(rulesSchema.safeParse(deep).success).toBe(false);
    let tooDeep: RulesDefinition = {};
    for (let i = 0; i < 20_000; i++) tooDeep = { not: tooDeep };
    expect(rulesSchema.safeParse(tooDeep).success).toBe(false);
    const many = Object.fromEntries(Array.from({ length: 501 }, (_, i) => [`f${i}`, '.*']));
    expect(refusal({ body: many })[0]?.message).toMatch(/501 patterns; at most 500/);
  });
});

describe('bounded cost', () => {
  it('cuts long values short in messages', () => {
    const failure = checkBody({ v: '^x' }, { v: `${'a'.repeat(100_000)}\n` });
    expect(failure?.message.length).toBeLessThan(300);
    expect(failure?.message).toContain('(100001 characters)');
    expect(checkBody({ v: '^x' }, { v: 'a\u0000"' })?.message).toBe(
      'body field "v": "a\\u0000\\"" does not match "^x"',
    );
  });

  it('tests only the first 64 KiB of a value', () => {
    expect(checkBody({ v: '^a*b' }, { v: `${'a'.repeat(1_000)}b` })).toBeNull();
    expect(checkBody({ v: '^a*b' }, { v: `${'a'.repeat(70_000)}b` })?.field).toBe('v');
  });

  it('refuses a message with more list items than may be visited, even under `not` or `any`', () => {
    const json = { items: Array.from({ length: 10_001 }, () => 'x') };
    expect(checkBody({ items: 'x' }, json)?.message).toBe(
      'body field "items" has more list items than can be checked (10000 in one message)',
    );
    expect(compile({ not: { body: { items: 'x' } } }).check(input({ json }))?.rule).toBe('not.body.items');
    const either = compile({ any: [{ body: { items: 'x' } }, { method: 'POST' }] });
    expect(either.check(input({ json }))?.rule).toBe('any[0].body.items');
    expect(checkBody({ items: 'x' }, { items: json.items.slice(1) })).toBeNull();
  });

  it('refuses a message that would cost too much work, even under `not`', () => {
    const json = { items: Array.from({ length: 50 }, () => 'z'.repeat(65_536)) };
    expect(checkBody({ items: '\\w{300}' }, json)?.message).toMatch(/would cost more than one message may/);
    expect(compile({ not: { body: { items: '\\w{300}' } } }).check(input({ json }))?.rule).toBe('not.body.items');
    expect(checkBody({ items: '\\w{300}' }, { items: json.items.slice(0, 1) })).toBeNull();
  });
});
