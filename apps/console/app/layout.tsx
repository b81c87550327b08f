import type { ReactNode } from 'react';

export const metadata = { title: 'Switchboard', description: 'The self-hosted webhook hub' };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: 'system-ui, sans-serif', margin: '2rem' }}>{children}</body>
    </html>
  );
}
