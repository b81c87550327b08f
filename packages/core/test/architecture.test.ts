import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layering of packages/core/src, read from the source: which folder imports which. Files at
 * the top (index.ts, testing.ts) wire everything together and are left out.
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
