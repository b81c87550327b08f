import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { createGraphQLError, type Plugin } from 'graphql-yoga';

const REFUSAL =
  'Send GraphQL operations as application/json: a form, multipart or text/plain body is refused, ' +
  "because any web page can make a browser send one with this server's cookies.";

/**
 * Refuses operations sent the way a page of another site can send them without a CORS preflight
 * (a form, multipart or text/plain POST, or a POST with no content type), with 403. Yoga's plugin
 * decides what is such a request; a request carrying its `x-graphql-yoga-csrf` header is let
 * through, since no page can add a header without a preflight. GET is left alone: Yoga runs only
 * queries over GET (a mutation gets 405), and a foreign page cannot read the answer.
 */
export function useSimpleRequestRefusal<TContext extends Record<string, unknown>>(): Plugin<TContext> {
  const prevention = useCSRFPrevention();
  return {
    onRequestParse(payload) {
      if (payload.request.method === 'GET') return;
      try {
        return prevention.onRequestParse?.(payload);
      } catch {
        throw createGraphQLError(REFUSAL, { extensions: { http: { status: 403 }, code: 'FORBIDDEN' } });
      }
    },
  };
}
