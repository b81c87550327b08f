'use client';

import {
  ActionIcon,
  AppShell,
  Burger,
  Center,
  Group,
  Loader,
  NavLink,
  Stack,
  Text,
  Title,
  Tooltip,
  useComputedColorScheme,
  useMantineColorScheme,
} from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import {
  IconInbox,
  IconKey,
  IconLogout,
  IconMoon,
  IconPlugConnected,
  IconSun,
  IconUser,
  IconUsers,
} from '@tabler/icons-react';
import { usePathname, useRouter } from 'next/navigation';
import { createContext, type ReactNode, useContext, useEffect } from 'react';
import { useMutation, useQuery } from 'urql';
import { graphql } from '../gql';
import type { MeQuery } from '../gql/graphql';
import { ErrorNote } from './problems';

const MeDocument = graphql(`
  query Me {
    me {
      id
      username
      role
    }
  }
`);

const LogoutDocument = graphql(`
  mutation Logout {
    logout
  }
`);

type Me = NonNullable<MeQuery['me']>;
const MeContext = createContext<Me | null>(null);

/** The signed-in user (inside ConsoleShell). */
export function useMe(): Me {
  const me = useContext(MeContext);
  if (!me) throw new Error('useMe outside ConsoleShell');
  return me;
}

const NAV = [
  { href: '/queues/', label: 'Queues', icon: IconInbox, also: ['/queue/', '/message/'] },
  { href: '/clients/', label: 'Clients', icon: IconPlugConnected },
  { href: '/tokens/', label: 'Tokens', icon: IconKey },
  { href: '/users/', label: 'Users', icon: IconUsers, adminOnly: true },
  { href: '/account/', label: 'Account', icon: IconUser },
];

/**
 * Every signed-in page: the navigation, the user, sign-out and the theme switch. Someone signed
 * out is sent to the sign-in page, which brings them back here afterwards.
 */
export function ConsoleShell({
  title,
  actions,
  children,
}: {
  title: string;
  actions?: ReactNode;
  children: ReactNode;
}) {
  const [{ data, fetching, error }] = useQuery({ query: MeDocument, requestPolicy: 'cache-and-network' });
  const [, logout] = useMutation(LogoutDocument);
  const router = useRouter();
  const pathname = usePathname();
  const [opened, { toggle, close }] = useDisclosure();
  const { setColorScheme } = useMantineColorScheme();
  const scheme = useComputedColorScheme('light');
  const me = data?.me ?? null;

  useEffect(() => {
    if (!fetching && !error && data && !me) {
      const here = `${window.location.pathname}${window.location.search}`;
      router.replace(`/login/?next=${encodeURIComponent(here)}`);
    }
  }, [fetching, error, data, me, router]);

  useEffect(() => {
    document.title = `${title} · Switchboard`;
  }, [title]);

  if (error && !data) {
    return (
      <Center h="100vh" p="md">
        <ErrorNote error={error} />
      </Center>
    );
  }
  if (!me) {
    return (
      <Center h="100vh" aria-busy="true">
        <Loader aria-label="Loading" />
      </Center>
    );
  }
  return (
    <MeContext.Provider value={me}>
      <AppShell
        header={{ height: 56 }}
        navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !opened } }}
        padding="md"
      >
        <AppShell.Header>
          <Group h="100%" px="md" justify="space-between" wrap="nowrap">
            <Group gap="sm" wrap="nowrap">
              <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Menu" />
              <Text fw={700} component="a" href="/queues/" c="inherit" td="none">
                Switchboard
              </Text>
            </Group>
            <Group gap="xs" wrap="nowrap">
              <Text size="sm" c="dimmed" visibleFrom="xs">
                {me.username} ({me.role.toLowerCase()})
              </Text>
              <Tooltip label={scheme === 'dark' ? 'Light theme' : 'Dark theme'}>
                <ActionIcon
                  variant="default"
                  aria-label={scheme === 'dark' ? 'Light theme' : 'Dark theme'}
                  onClick={() => setColorScheme(scheme === 'dark' ? 'light' : 'dark')}
                >
                  {scheme === 'dark' ? <IconSun size={18} /> : <IconMoon size={18} />}
                </ActionIcon>
              </Tooltip>
              <Tooltip label="Sign out">
                <ActionIcon
                  variant="default"
                  aria-label="Sign out"
                  onClick={async () => {
                    await logout({});
                    window.location.assign('/login/');
                  }}
                >
                  <IconLogout size={18} />
                </ActionIcon>
              </Tooltip>
            </Group>
          </Group>
        </AppShell.Header>
        <AppShell.Navbar p="xs" aria-label="Sections">
          {NAV.filter((item) => !item.adminOnly || me.role === 'ADMIN').map((item) => (
            <NavLink
              key={item.href}
              href={item.href}
              label={item.label}
              leftSection={<item.icon size={18} />}
              active={[item.href, ...(item.also ?? [])].some((href) => pathname?.startsWith(href.replace(/\/$/, '')))}
              onClick={close}
            />
          ))}
        </AppShell.Navbar>
        <AppShell.Main>
          <Stack gap="md" maw={1200}>
            <Group justify="space-between" wrap="wrap">
              <Title order={1} size="h2">
                {title}
              </Title>
              {actions}
            </Group>
            {children}
          </Stack>
        </AppShell.Main>
      </AppShell>
    </MeContext.Provider>
  );
}
