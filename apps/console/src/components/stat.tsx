'use client';

import { Paper, Text } from '@mantine/core';
import type { ReactNode } from 'react';

/** One labelled fact at the top of a page: when, how big, from where. */
export function Stat({ label, children }: { label: string; children: ReactNode }) {
  return (
    <Paper withBorder p="sm">
      <Text size="xs" c="dimmed">
        {label}
      </Text>
      <Text size="sm" component="div">
        {children}
      </Text>
    </Paper>
  );
}
