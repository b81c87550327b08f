import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';
import { SkipReporter } from './vitest.skip-reporter.ts';

const require = createRequire(import.meta.url);

// TEST_DB=postgres (a fresh database per test file on the local Postgres) or TEST_DB=pglite
// (an in-memory embedded database per test file); `npm test` runs the whole suite on both.
export default defineConfig({
  resolve: {
    // graphql ships CommonJS and ESM side by side; libraries loaded by Node get the CommonJS one,
    // so our own imports must too, or schema objects would come from two copies of graphql.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'apps/api/test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // After the summary: which tests were skipped, and why (most need Postgres, see the reporter).
    reporters: ['default', new SkipReporter()],
  },
});
