'use client';

import { Center, Loader } from '@mantine/core';
import { useRouter } from 'next/navigation';
import { useEffect } from 'react';

/** The console opens on the queues. */
export default function HomePage() {
  const router = useRouter();
  useEffect(() => router.replace('/queues/'), [router]);
  return (
    <Center h="100vh">
      <Loader aria-label="Loading" />
    </Center>
  );
}
