import { GraphQLError, type ValidationRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';

export type IntrospectionSetting = 'authenticated' | 'open' | 'off';

const MESSAGES: Record<Exclude<IntrospectionSetting, 'open'>, string> = {
  authenticated:
    'Introspection needs credentials: sign in or send an API token (the printed schema is in the repository as apps/api/schema.graphql).',
  off: 'Introspection is turned off on this server (GRAPHQL_INTROSPECTION=off).',
};

/**
 * Lets a caller introspect the schema only as GRAPHQL_INTROSPECTION says. Added as a validation
 * rule, so a refused document is an ordinary GRAPHQL_VALIDATION_FAILED error, over HTTP and over
 * graphql-ws alike (both hand Yoga the caller's principal in the initial context). `__typename`
 * is not introspection and stays allowed.
 */
export function useIntrospectionPolicy<TContext extends Record<string, unknown>>(
  setting: IntrospectionSetting,
): Plugin<TContext> {
  if (setting === 'open') return {};
  const rule = refuseIntrospection(MESSAGES[setting]);
  return {
    onValidate({ addValidationRule, context }) {
      if (setting === 'authenticated' && (context as { principal?: unknown }).principal) return;
      addValidationRule(rule);
    },
  };
}

/** The only ways into the introspection types; `__typename` is a plain string. */
const ENTRY_FIELDS = new Set(['__schema', '__type']);

/** Named, because Yoga's validation cache is keyed by the names of the rules that ran. */
function refuseIntrospection(message: string): ValidationRule {
  return function RefuseIntrospectionRule(context) {
    return {
      Field(node) {
        if (ENTRY_FIELDS.has(node.name.value)) context.reportError(new GraphQLError(message, { nodes: node }));
      },
    };
  };
}
