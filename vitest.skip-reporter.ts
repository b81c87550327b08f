import { readFileSync } from 'node:fs';
import type { Reporter, TestCase, TestModule, TestSuite, Vitest } from 'vitest/node';

/**
 * Lists the tests a run skipped, and why, after the closing summary: the tests that need several
 * processes on one Postgres are skipped on PGlite (the default of a bare `vitest run`), and a
 * green run must not hide that they never ran.
 *
 * Why comes from the test file: the `skipIf(...)`/`runIf(...)` that precedes the skipped test or
 * one of its suites, and a `//` comment right above it if there is one. A test skipped with
 * `ctx.skip(note)` gives its note.
 */
export class SkipReporter implements Reporter {
  private vitest: Vitest | undefined;

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    // As the tests read it (packages/db's getTestDatabaseKind): unset means PGlite.
    const { TEST_DB: database = 'pglite' } = process.env;
    const blocks = new Map<string, { file: string; heading: string; reason: string; tests: string[] }>();
    let total = 0;
    let unselected = 0;
    for (const testModule of testModules) {
      const source = readSource(testModule.moduleId);
      for (const test of testModule.children.allTests('skipped')) {
        total++;
        const { node, reason } = explain(test, source, database);
        // Left out by the one running the tests, who knows why: counted, not listed.
        if (reason === NOT_SELECTED) {
          unselected++;
          continue;
        }
        const heading = node.fullName;
        const key = `${testModule.moduleId}\0${heading}\0${reason}`;
        const block = blocks.get(key) ?? { file: testModule.relativeModuleId, heading, reason, tests: [] };
        blocks.set(key, block);
        if (node !== test) block.tests.push(test.fullName.slice(heading.length).replace(/^ > /, ''));
      }
    }
    if (total === 0) return;
    const lines = ['', ` Skipped ${total} ${total === 1 ? 'test' : 'tests'} (TEST_DB=${database}):`];
    for (const block of blocks.values()) {
      lines.push(`   ${block.file} > ${block.heading}`);
      lines.push(`     why: ${block.reason}`);
      for (const name of block.tests) lines.push(`     - ${name}`);
    }
    if (unselected > 0) lines.push(`   and ${unselected} not selected in this run (.only elsewhere, or a name filter)`);
    lines.push('');
    const log = this.vitest ? (text: string) => this.vitest?.logger.log(text) : console.log;
    log(lines.join('\n'));
  }
}

const NOT_SELECTED = 'not selected';

function readSource(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The test, or the outermost suite that was skipped as a whole, and the reason for it. */
function explain(test: TestCase, source: string, database: string): { node: TestCase | TestSuite; reason: string } {
  const result = test.result();
  const note = result.state === 'skipped' ? result.note : undefined;
  // The outermost skipped suite speaks for all its tests; failing that, the test itself.
  let outermost: TestCase | TestSuite = test;
  for (let parent = test.parent; parent.type === 'suite'; parent = parent.parent) {
    if (parent.options.mode === 'skip' || parent.options.mode === 'todo') outermost = parent;
  }
  if (note) return { node: test, reason: note };
  for (const node of [outermost, test]) {
    const found = findCondition(source, node.name);
    if (found) return { node, reason: describeCondition(found, database) };
  }
  if (test.options.mode === 'todo') return { node: test, reason: 'a test still to be written (todo)' };
  if (outermost.options.mode === 'skip' && hasPlainSkip(source, outermost.name)) {
    return { node: outermost, reason: 'marked .skip in the source' };
  }
  return { node: test, reason: NOT_SELECTED };
}

interface Condition {
  kind: 'skipIf' | 'runIf';
  condition: string;
  comment: string;
}

/** The `skipIf(...)`/`runIf(...)` right before the quoted name in the source, if any. */
function findCondition(source: string, name: string): Condition | null {
  for (const quote of ["'", '"', '`']) {
    const quoted = `${quote}${name}${quote}`;
    for (let at = source.indexOf(quoted); at >= 0; at = source.indexOf(quoted, at + 1)) {
      const before = source.slice(Math.max(0, at - 400), at);
      const start = Math.max(before.lastIndexOf('.skipIf('), before.lastIndexOf('.runIf('));
      if (start < 0) continue;
      const call = /^\.(skipIf|runIf)\(([\s\S]*)\)\(\s*$/.exec(before.slice(start));
      if (!call) continue;
      const lineStart = source.lastIndexOf('\n', at - before.length + start) + 1;
      return {
        kind: call[1] as Condition['kind'],
        condition: (call[2] ?? '').replace(/\s+/g, ' ').trim(),
        comment: commentAbove(source, lineStart),
      };
    }
  }
  return null;
}

/** The `//` comment lines directly above the line that starts at `lineStart`, joined. */
function commentAbove(source: string, lineStart: number): string {
  const lines = source.slice(0, lineStart).split('\n');
  lines.pop(); // what follows the last newline: the start of the line itself
  const comment: string[] = [];
  for (let line = lines.pop(); line !== undefined && /^\s*\/\//.test(line); line = lines.pop()) {
    comment.unshift(line.replace(/^\s*\/\/\s?/, '').trim());
  }
  return comment.join(' ');
}

function describeCondition({ kind, condition, comment }: Condition, database: string): string {
  // Whether the test needs Postgres or PGlite, as its condition reads.
  const runsOn = /['"](postgres|pglite)['"]/.exec(condition)?.[1];
  const negated = /!==?/.test(condition);
  const needs = runsOn && ((kind === 'runIf') !== negated ? runsOn : runsOn === 'postgres' ? 'pglite' : 'postgres');
  let reason: string;
  if (needs === 'postgres' && database !== 'postgres') {
    reason = 'skipped on PGlite: needs Postgres (several processes)';
  } else if (needs === 'pglite' && database !== 'pglite') {
    reason = 'skipped on Postgres: needs PGlite (the embedded database)';
  } else {
    reason = `${kind}(${condition})`;
  }
  return comment ? `${reason}: ${comment}` : reason;
}

function hasPlainSkip(source: string, name: string): boolean {
  return ["'", '"', '`'].some((quote) => source.includes(`.skip(${quote}${name}${quote}`));
}
