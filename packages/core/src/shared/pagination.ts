export interface PageRequest {
  offset: number;
  limit: number;
}

export interface Page<T> {
  items: T[];
  totalCount: number;
}

/** A sanity bound; GraphQL connections show at most 100 and ask for one more to see if there is a next page. */
export const MAX_PAGE_SIZE = 500;

export function clampPage(page: Partial<PageRequest>): PageRequest {
  return {
    offset: Math.max(0, Math.floor(page.offset ?? 0)),
    limit: Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(page.limit ?? 20))),
  };
}
