'use client';

import { type CSSVariablesResolver, createTheme, MantineProvider } from '@mantine/core';
import type { Client as WsClient } from 'graphql-ws';
import { createContext, type ReactNode, useContext, useState } from 'react';
import { Provider as UrqlProvider } from 'urql';
import { createConsoleClient } from '../lib/client';

// Shade 8 in light mode: text on the light variants and on filled buttons keeps a 4.5:1 contrast.
const theme = createTheme({
  primaryColor: 'indigo',
  defaultRadius: 'sm',
  primaryShade: { light: 8, dark: 5 },
  autoContrast: true,
});

// Secondary text one shade darker (lighter in dark mode) than Mantine's, for the same contrast.
// Text on light-variant badges and buttons (green "connected" on pale green) the darkest shade.
const resolver: CSSVariablesResolver = (t) => ({
  variables: {},
  light: {
    '--mantine-color-dimmed': t.colors.gray[7] ?? '#495057',
    ...Object.fromEntries(
      Object.keys(t.colors).map((name) => [`--mantine-color-${name}-light-color`, `var(--mantine-color-${name}-9)`]),
    ),
  },
  dark: { '--mantine-color-dimmed': t.colors.dark[1] ?? '#b8b8b8' },
});

const SocketContext = createContext<WsClient | null>(null);

/** The graphql-ws socket the live pages stream over. */
export function useSocket(): WsClient {
  const socket = useContext(SocketContext);
  if (!socket) throw new Error('useSocket outside Providers');
  return socket;
}

export function Providers({ children }: { children: ReactNode }) {
  const [{ client, socket }] = useState(createConsoleClient);
  return (
    <MantineProvider theme={theme} defaultColorScheme="auto" cssVariablesResolver={resolver}>
      <UrqlProvider value={client}>
        <SocketContext.Provider value={socket}>{children}</SocketContext.Provider>
      </UrqlProvider>
    </MantineProvider>
  );
}
