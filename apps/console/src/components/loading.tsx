'use client';

import { Center, Loader } from '@mantine/core';

/** Shown while a page's first answer is on its way. */
export function Loading({ what }: { what: string }) {
  return (
    <Center py="xl" aria-busy="true">
      <Loader size="sm" aria-label={`Loading ${what}`} />
    </Center>
  );
}
