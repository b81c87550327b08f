#!/usr/bin/env node
// Builds the console's static export (out/) when its sources, its dependencies or the API's schema
// changed since the last build, and does nothing otherwise: `npm start` runs this first, so that a
// fresh checkout serves the console and a restart does not wait for a build it already has.
// `npm run build` runs it with --strict: there a failed build is an error.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const inputs = [
  'app',
  'src',
  'package.json',
  'next.config.mjs',
  'codegen.ts',
  'tsconfig.json',
  '../api/schema.graphql',
  '../../package-lock.json',
];
const skip = new Set(['gql', 'node_modules', '.next', 'out']);

function files(path) {
  const full = join(here, path);
  if (!existsSync(full)) return [];
  if (!statSync(full).isDirectory()) return [full];
  return readdirSync(full)
    .filter((name) => !skip.has(name))
    .sort()
    .flatMap((name) => files(join(path, name)));
}

const hash = createHash('sha256');
for (const file of inputs.flatMap(files)) {
  hash.update(relative(here, file));
  hash.update(readFileSync(file));
}
const digest = hash.digest('hex');
const stamp = join(here, 'out', '.source-hash');
if (existsSync(join(here, 'out', 'index.html')) && existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) {
  process.exit(0);
}
process.stdout.write('Building the console (once per change; about a minute)...\n');
const built = spawnSync('npm', ['run', 'build'], {
  cwd: here,
  stdio: 'inherit',
  env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
});
if (built.status !== 0) {
  // `--strict` (CI, `npm run build`): a failed build fails. Otherwise the API starts without it.
  if (process.argv.includes('--strict')) process.exit(built.status ?? 1);
  process.stderr.write('The console did not build; the API starts without it. See the output above.\n');
  process.exit(0);
}
writeFileSync(stamp, digest);
