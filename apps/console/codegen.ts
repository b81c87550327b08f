import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents for every `graphql(...)` call in the console, from the API's printed schema: a
 * change of `apps/api/schema.graphql` that breaks a page fails `npm run typecheck`.
 */
const config: CodegenConfig = {
  schema: '../api/schema.graphql',
  documents: ['app/**/*.tsx', 'src/**/*.{ts,tsx}', '!src/gql/**/*'],
  ignoreNoDocuments: false,
  generates: {
    './src/gql/': {
      preset: 'client',
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { DateTime: 'string', JSON: 'unknown' },
      },
      presetConfig: { fragmentMasking: { unmaskFunctionName: 'getFragmentData' } },
    },
  },
};

export default config;
