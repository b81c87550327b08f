import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layering of packages/core/src, read from the source: which folder imports which. Files at
 * the top (core.ts, index.ts, testing.ts) wire and export everything, and are left out.
 */
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

const folderOf = (file: string) => relative(SRC, file).split('/')[0] as string;

const SCHEMA = resolve(SRC, '../../db/src/schema');

/** Table object (drizzle) → table name, from packages/db's schema. */
function tables(): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of sourceFiles(SCHEMA)) {
    for (const match of readFileSync(file, 'utf8').matchAll(/export const (\w+) = pgTable\(\s*'(\w+)'/g)) {
      found.set(match[1] as string, match[2] as string);
    }
  }
  return found;
}

/** Table name → the files of core that write it: drizzle's insert/update/delete, or raw SQL. */
function tableWriters(): Map<string, Set<string>> {
  const objects = tables();
  const names = new Set(objects.values());
  const writers = new Map<string, Set<string>>([...names].map((name) => [name, new Set<string>()]));
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    const at = relative(SRC, file);
    for (const match of text.matchAll(/\.(?:insert|update|delete)\(\s*(\w+)\s*\)/g)) {
      const table = objects.get(match[1] as string);
      if (table) writers.get(table)?.add(at);
    }
    for (const match of text.matchAll(/\b(?:insert\s+into|update|delete\s+from)\s+(?:\$\{(\w+)\}|(\w+))/gi)) {
      const table = match[1] ? objects.get(match[1]) : match[2];
      if (table && names.has(table)) writers.get(table)?.add(at);
    }
  }
  return writers;
}

/** The files of core whose text matches. */
function filesMatching(pattern: RegExp): string[] {
  return sourceFiles(SRC)
    .filter((file) => pattern.test(readFileSync(file, 'utf8')))
    .map((file) => relative(SRC, file));
}

/** Folder → the folders its files import, each with one importing file as the example. */
function folderImports(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(file);
    if (from.endsWith('.ts')) continue;
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const to = folderOf(resolve(dirname(file), match[1] as string));
      if (to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string>();
      if (!edges.has(to)) edges.set(to, relative(SRC, file));
      graph.set(from, edges);
    }
  }
  return graph;
}

/** Every cycle between folders, each as the path that closes it. */
function cycles(graph: Map<string, Map<string, string>>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    path.push(node);
    for (const next of graph.get(node)?.keys() ?? []) {
      if (state.get(next) === 'open') found.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return found;
}

describe('the layering of core', () => {
  const graph = folderImports();

  it('reads imports from every folder (the walk itself works)', () => {
    expect([...graph.keys()]).toEqual(expect.arrayContaining(['outbound', 'delivery', 'jobs', 'events', 'queues']));
    expect(graph.get('jobs')?.has('outbound')).toBe(true);
  });

  it('has no import cycle between folders of packages/core/src', () => {
    const described = cycles(graph).map((cycle) =>
      cycle
        .slice(1)
        .map((to, i) => `${cycle[i]} -> ${to} (${graph.get(cycle[i] as string)?.get(to)})`)
        .join(', '),
    );
    expect(described).toEqual([]);
  });

  it('finds a cycle when there is one (the check can fail)', () => {
    const looped = new Map(graph);
    looped.set('shared', new Map([...(graph.get('shared') ?? []), ['jobs', 'shared/example.ts']]));
    expect(cycles(looped).length).toBeGreaterThan(0);
  });

  it('keeps the outbound engine free of the kinds it sends: no import from events, jobs, delivery or queues', () => {
    const imported = [...(graph.get('outbound')?.entries() ?? [])];
    expect(imported.filter(([to]) => ['events', 'jobs', 'delivery', 'queues'].includes(to))).toEqual([]);
  });

  it('keeps shared and access at the bottom: they import no other folder of core', () => {
    expect([...(graph.get('shared')?.keys() ?? [])]).toEqual([]);
    expect([...(graph.get('access')?.keys() ?? [])].filter((to) => to !== 'shared')).toEqual([]);
  });
});

describe('one owner per table', () => {
  const writers = tableWriters();

  it('finds the writers it looks for (the scan itself works)', () => {
    expect(writers.size).toBeGreaterThanOrEqual(13);
    expect([...(writers.get('deliveries') ?? [])]).toContain('outbound/outbound-store.ts');
  });

  it('has each table written by exactly one store', () => {
    const owners = Object.fromEntries([...writers].map(([table, files]) => [table, [...files].sort()]));
    const wrong = Object.entries(owners).filter(
      ([, files]) => files.length !== 1 || !(files[0] as string).endsWith('-store.ts'),
    );
    expect(wrong, `each table's writers: ${JSON.stringify(owners, null, 1)}`).toEqual([]);
  });

  it('calls each SQL function from one store', () => {
    expect(filesMatching(/from switchboard_(?:claim|complete)_deliveries\(/)).toEqual(['outbound/outbound-store.ts']);
    expect(filesMatching(/switchboard_append_messages\(/)).toEqual(['queues/message-store.ts']);
    expect(filesMatching(/switchboard_end_jobs\(/)).toEqual(['jobs/job-store.ts']);
  });

  it('looks users up by name in one place', () => {
    expect(filesMatching(/lower\(\$\{users\.username\}\)/)).toEqual(['users/user-store.ts']);
  });

  it('decodes keyset cursors only in the shared codec', () => {
    expect(filesMatching(/decodeKeysetCursor\(/)).toEqual(['shared/cursor.ts']);
  });

  it("defines each visibility filter once, in its store's visibleTo", () => {
    const filters = filesMatching(/eq\(\w+\.userId, actor\.user\.id\)/);
    for (const file of filters) {
      const text = readFileSync(join(SRC, file), 'utf8');
      expect(file, `${file} filters rows by their owner outside a store`).toMatch(/-store\.ts$/);
      expect(text.match(/eq\(\w+\.userId, actor\.user\.id\)/g), `${file} has more than one owner filter`).toHaveLength(
        1,
      );
      expect(text, `${file} filters by owner outside visibleTo`).toMatch(/visibleTo\(actor: Principal\)/);
    }
  });
});
