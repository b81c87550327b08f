'use client';

import { Group, Pagination, Text } from '@mantine/core';
import { useEffect, useState } from 'react';

/** One page of a list the API answers whole, and the control that moves through it. */
export function usePaged<T>(items: readonly T[], size = 25) {
  const [page, setPage] = useState(1);
  const pages = Math.max(1, Math.ceil(items.length / size));
  useEffect(() => {
    if (page > pages) setPage(pages);
  }, [page, pages]);
  const shown = items.slice((page - 1) * size, page * size);
  const control =
    items.length > size ? (
      <Group justify="space-between">
        <Text size="sm" c="dimmed">
          {(page - 1) * size + 1}–{Math.min(page * size, items.length)} of {items.length}
        </Text>
        <Pagination total={pages} value={page} onChange={setPage} size="sm" aria-label="Pages" />
      </Group>
    ) : null;
  return { shown, control };
}
