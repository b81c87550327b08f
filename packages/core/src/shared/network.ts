import ipaddr from 'ipaddr.js';

type Network = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Accepts a CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address (`127.0.0.1`, as the Webhook Queue's lists hold). */
export function parseNetwork(value: string): Network | null {
  try {
    if (value.includes('/')) return ipaddr.parseCIDR(value);
    const address = ipaddr.parse(value);
    return [address, address.kind() === 'ipv4' ? 32 : 128];
  } catch {
    return null;
  }
}

/** An IPv4 client reached over an IPv6 socket shows up as ::ffff:a.b.c.d; it is matched as IPv4. */
export function parseClientAddress(value: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  try {
    return ipaddr.process(value);
  } catch {
    return null;
  }
}

/** Compiles an allowlist once; an empty list allows every address. */
export function compileAllowlist(networks: readonly string[]): (address: string | undefined) => boolean {
  const parsed = networks.map(parseNetwork).filter((n): n is Network => n !== null);
  if (networks.length === 0) return () => true;
  return (address) => {
    const client = address ? parseClientAddress(address) : null;
    if (!client) return false;
    return parsed.some(([range, bits]) => client.kind() === range.kind() && client.match([range, bits] as never));
  };
}
