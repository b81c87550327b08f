import { afterEach, describe, expect, it } from 'vitest';
import { compileTemplate, MAX_OUTPUT_CHARS, renderTree, type Template, TemplateError } from './template.ts';

// Expected strings below were rendered by Python's jinja2 3.1.6 (`jinja2.Template(src).render(...)`).

function compiled(source: string): Template {
  const result = compileTemplate(source);
  if (!result.ok) throw new Error(`expected ${JSON.stringify(source)} to compile: ${result.error.message}`);
  return result.value;
}

const render = (source: string, scope: Record<string, unknown> = {}) => compiled(source).render(scope);

function renderError(source: string, scope: Record<string, unknown> = {}): TemplateError {
  try {
    render(source, scope);
  } catch (error) {
    expect(error).toBeInstanceOf(TemplateError);
    return error as TemplateError;
  }
  throw new Error(`expected ${JSON.stringify(source)} to fail`);
}

const scope = {
  xs: [3, 1, 2],
  items: [
    { name: 'web', tags: ['a', 'b'] },
    { name: 'db', tags: [] },
  ],
  d: { b: 1, a: '<x&y>' },
  n: null,
  yes: true,
  ratio: 0.5,
  name: '  Ada  ',
  text: 'hello world',
};

describe('compileTemplate', () => {
  it('refuses a syntax error with the line and the problem', () => {
    const result = compileTemplate('Hello\n{{ request.json.name ++ }}\n');
    expect(result).toMatchObject({ ok: false, error: { code: 'INVALID' } });
    if (!result.ok) expect(result.error.message).toMatch(/^Template syntax error on line 2: .*CloseExpression/);
  });

  it('names the block a template leaves open', () => {
    const result = compileTemplate('start\n{% for commit in commits %}\n  {{ commit.id }}\n');
    expect(result.ok ? null : result.error.message).toBe(
      'Template syntax error on line 2: {% for %} is never closed by {% endfor %}',
    );
  });

  it('refuses an unclosed tag, an unknown filter and an unknown test, as Jinja2 does', () => {
    const messages = ['{{ x', '{{ x|nope }}', '{% if x is prime %}{% endif %}', '{{ x|constructor }}'].map((source) => {
      const result = compileTemplate(source);
      return result.ok ? null : result.error.message;
    });
    expect(messages).toEqual([
      'Template ends inside a string, comment or tag that is never closed',
      "Template is not valid: no filter named 'nope'",
      "Template is not valid: no test named 'prime'",
      "Template is not valid: no filter named 'constructor'",
    ]);
  });

  it('reuses the compiled template for the same source', () => {
    expect(compiled('{{ a }} and {{ b }}')).toBe(compiled('{{ a }} and {{ b }}'));
  });
});

describe('rendering as Jinja2 does', () => {
  it('keeps whitespace as Jinja2 defaults do: no trim_blocks, no lstrip_blocks, one trailing newline dropped', () => {
    const source = 'Header\n{% for x in xs %}\n  - {{ x }}\n{% endfor %}\n{% if yes %}\n    yes\n{% endif %}\nend\n';
    expect(render(source, scope)).toBe('Header\n\n  - 3\n\n  - 1\n\n  - 2\n\n\n    yes\n\nend');
    expect(render('a  {%- if yes -%}  b  {%- endif %}\n{# note #}\nc\n\n', scope)).toBe('ab\n\nc\n');
    expect(render('line1\r\nline2\r\n')).toBe('line1\nline2');
  });

  it('runs a for loop with an inline if and an else block', () => {
    const source =
      "{% for i in items if i.tags %}{{ loop.index }}:{{ i.name }} {% else %}none{% endfor %}|{% for i in items if i.name == 'x' %}{{ i }}{% else %}no match{% endfor %}";
    expect(render(source, scope)).toBe('1:web |no match');
  });

  it('prints None, True, False, lists, dicts and floats as Python does', () => {
    const source =
      "{{ none }} {{ n }} {{ yes }} {{ false }} {{ missing }}|{{ [1, 'a', none, true, 0.5] }} {{ d }} {{ 1.0 }} {{ 7 / 2 }} {{ ('a', 1) }}";
    expect(render(source, scope)).toBe(
      "None None True False |[1, 'a', None, True, 0.5] {'b': 1, 'a': '<x&y>'} 1.0 3.5 ('a', 1)",
    );
  });

  it('filters: upper, lower, length, join, map(attribute=), default, replace, tojson, trim, first, last', () => {
    const source =
      "{{ text|upper }} {{ 'ABC'|lower }} {{ xs|length }} {{ text|length }} {{ xs|join(', ') }} {{ items|map(attribute='name')|join('+') }} {{ missing|default('fallback') }} {{ n|default('kept') }} {{ text|replace('o', '0') }} {{ d|tojson }} [{{ name|trim }}] {{ xs|first }} {{ xs|last }} {{ text|first }} {{ [none, true]|join('/') }}";
    expect(render(source, scope)).toBe(
      'HELLO WORLD abc 3 11 3, 1, 2 web+db fallback None hell0 w0rld {"a": "\\u003cx\\u0026y\\u003e", "b": 1} [Ada] 3 2 h None/True',
    );
    expect(render('{{ items|tojson(indent=2) }}', scope)).toBe(
      '[\n  {\n    "name": "web",\n    "tags": [\n      "a",\n      "b"\n    ]\n  },\n  {\n    "name": "db",\n    "tags": []\n  }\n]',
    );
  });

  it('concatenates, compares and formats as Python does', () => {
    const source =
      "{{ 'a' ~ none ~ yes }} {{ 1 == 1.0 }} {{ '1' == 1 }} {{ -7 % 3 }} {{ '-' * 5 }} {{ 'b' > 'a' }} {{ '%s has %d' % ('x', 2) }} {{ text.split(' ')|reverse|join(' ') }}";
    expect(render(source, scope)).toBe('aNoneTrue True False 2 ----- True x has 2 world hello');
  });

  it('sets variables and namespaces, and calls macros', () => {
    const source =
      '{% set ns = namespace(total=0) %}{% for x in xs %}{% set ns.total = ns.total + x %}{% endfor %}{% macro show(v) %}<{{ v }}>{% endmacro %}{{ show(ns.total) }}';
    expect(render(source, scope)).toBe('<6>');
  });
});

describe('renderTree', () => {
  it('renders every string of a tree and leaves other values as they are', () => {
    const tree = {
      target: 'https://x.test/{{ name|trim }}',
      body: { list: ['{{ xs|length }}', 2, true, null], n: 1.5 },
    };
    expect(renderTree(tree, scope)).toEqual({
      target: 'https://x.test/Ada',
      body: { list: ['3', 2, true, null], n: 1.5 },
    });
  });

  it('raises TemplateError for a string that does not compile', () => {
    expect(() => renderTree({ a: ['{% if %}'] }, scope)).toThrow(TemplateError);
  });
});

describe('limits', () => {
  it('refuses output over 1 MiB', () => {
    expect(renderError("{{ 'x' * 2000000 }}").message).toBe(
      `Template output exceeds the ${MAX_OUTPUT_CHARS}-character limit`,
    );
    expect(renderError("{% for i in range(3000) %}{{ 'y' * 1000 }}{% endfor %}").message).toMatch(/character limit/);
    expect(renderError("{{ range(5000)|map('string')|map('replace', '1', 'z' * 1000)|join }}").message).toMatch(
      /character limit/,
    );
  });

  it('refuses a huge range() before building it', () => {
    expect(renderError('{{ range(1000000000)|length }}').message).toBe(
      'range() is limited to 100000 items, not 1000000000',
    );
  });

  it('stops runaway loops and recursion instead of hanging', () => {
    const started = Date.now();
    expect(renderError('{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}').message).toMatch(
      /^Template stopped after \d+ steps/,
    );
    expect(renderError('{% set a = [1] %}{% for i in range(64) %}{% set a = a + a %}{% endfor %}').message).toMatch(
      /steps/,
    );
    expect(renderError('{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}').message).toMatch(/nests too deeply/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('reports a division by zero and other failures as template errors a person can read', () => {
    expect(renderError('{{ 1 / 0 }}').message).toBe('division by zero');
    expect(renderError('{{ text.nope() }}', scope).message).toBe(
      'Template failed: Cannot call something that is not a function: got an undefined value',
    );
  });
});

describe('sandbox', () => {
  const canary = '__switchboardTemplateEscape';
  const writeCanary = `globalThis.${canary} = 1; return process`;
  const sandboxScope = {
    request: { json: { a: 1 }, headers: { host: 'x' } },
    call: (args: unknown[]) => args.length,
    list: [1, 2],
    text: 'plain',
  };
  const attempts = [
    `{{ ''.constructor.constructor('${writeCanary}')() }}`,
    `{{ text.constructor.constructor('${writeCanary}')() }}`,
    '{{ request.constructor }}',
    '{{ request.__proto__ }}',
    "{{ request['__proto__']['constructor'] }}",
    `{{ request.json.constructor.constructor('${writeCanary}')() }}`,
    `{{ call.constructor('${writeCanary}')() }}`,
    `{{ call.call.constructor('${writeCanary}')() }}`,
    '{{ [].constructor }}',
    `{{ [].constructor.constructor('${writeCanary}')() }}`,
    `{{ list.constructor.constructor('${writeCanary}')() }}`,
    '{{ range.constructor }}',
    `{{ range.constructor('${writeCanary}')() }}`,
    `{{ namespace.constructor('${writeCanary}')() }}`,
    `{{ dict().constructor.constructor('${writeCanary}')() }}`,
    '{{ request.__class__.__mro__[1].__subclasses__() }}',
    '{{ call.__globals__ }}',
    '{{ request.__init__.__globals__ }}',
    '{{ text.__class__ }}',
    '{{ request.toString() }}',
    '{{ text.valueOf() }}',
    '{{ request.json.hasOwnProperty("a") }}',
    '{% for x in range.prototype %}{{ x }}{% endfor %}',
    '{% set ns = namespace() %}{% set ns.__proto__ = {"polluted": 1} %}{{ ns.polluted }}',
    '{{ dict(__proto__={"polluted": 1}).polluted }}',
    '{{ call(request, {"__proto__": {"polluted": 1}}) }}',
    '{{ range }} {{ call }}',
  ];

  afterEach(() => {
    Reflect.deleteProperty(globalThis, canary);
  });

  it.each(attempts)('reaches nothing of the process: %s', (source) => {
    const result = compileTemplate(source);
    let output = '';
    if (result.ok) {
      try {
        output = result.value.render(sandboxScope);
      } catch (error) {
        expect(error).toBeInstanceOf(TemplateError);
      }
    }
    expect(Reflect.get(globalThis, canary)).toBeUndefined();
    expect(Reflect.get({}, 'polluted')).toBeUndefined();
    // Nothing of JavaScript shows through: no source text, no object tags.
    expect(output).not.toMatch(/process|native code|=>|return|\[object/i);
  });

  it('would see an escape that wrote the canary', () => {
    // Keeps the check above live: a write to the global is visible to it.
    new Function(`globalThis.${canary} = 1`)();
    expect(Reflect.get(globalThis, canary)).toBe(1);
  });

  it('hands scope functions plain data only', () => {
    const seen: unknown[] = [];
    const probe = (args: unknown[], kwargs: Record<string, unknown>) => {
      seen.push(args, kwargs);
      return null;
    };
    expect(renderError('{{ probe(k=range) }}', { probe }).message).toBe('A function cannot be passed as a value');
    expect(seen).toEqual([]);
    expect(render('{{ probe(request, [1, none], k=true) }}', { probe, request: { a: { b: 'c' } } })).toBe('None');
    expect(seen).toEqual([[{ a: { b: 'c' } }, [1, null]], { k: true }]);
    expect(Object.getPrototypeOf((seen[0] as unknown[])[0])).toBe(Object.prototype);
  });
});
