import {
  type DefaultConnectionArguments,
  type ResolveCursorConnectionArgs,
  resolveCursorConnection,
} from '@pothos/plugin-relay';
import type { MessagePage, StoredMessage } from '@switchboard/core';

/**
 * A connection over message pages that may stop short of the count asked for, because core
 * bounds a page by bytes too: then the page says that more follow in its direction, which the
 * count alone would not tell.
 */
export async function resolveMessageConnection(
  args: DefaultConnectionArguments,
  load: (page: ResolveCursorConnectionArgs) => Promise<MessagePage>,
) {
  let truncated = false;
  let inverted = false;
  const connection = await resolveCursorConnection<Promise<StoredMessage[]>>(
    { args, toCursor: (m: StoredMessage) => String(m.seq) },
    async (page): Promise<StoredMessage[]> => {
      inverted = page.inverted;
      const result = await load(page);
      truncated = result.truncated;
      return result.messages;
    },
  );
  if (truncated) {
    if (inverted) connection.pageInfo.hasPreviousPage = true;
    else connection.pageInfo.hasNextPage = true;
  }
  return connection;
}
