import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import type ipaddr from 'ipaddr.js';
import { compileAllowlist, parseClientAddress } from '../shared/network.ts';

/**
 * Outbound requests may only reach public unicast addresses, unless the operator lists a network
 * in DELIVERY_ALLOWED_NETWORKS. Everything else is refused: loopback, private, link-local (cloud
 * metadata at 169.254.169.254 among them), unique-local (fd00:ec2::254), carrier-grade NAT,
 * multicast, broadcast, unspecified, reserved and documentation ranges, and the IPv6 forms that
 * embed an IPv4 address (mapped, NAT64, 6to4, Teredo), which are judged by the address they carry
 * where it can be read and refused where it cannot.
 *
 * A sender uses both halves: `checkHost` before a request (net.connect never calls `lookup` for a
 * URL whose host is an IP literal), and `lookup` on its connections, so that what is reached is
 * exactly what was checked.
 */
export class SsrfGuard {
  private readonly allowed: (address: string | undefined) => boolean;
  private readonly hasAllowlist: boolean;

  constructor(
    allowedNetworks: readonly string[] = [],
    private readonly resolve: ResolveAll = resolveAll,
  ) {
    this.hasAllowlist = allowedNetworks.length > 0;
    this.allowed = compileAllowlist(allowedNetworks);
  }

  /** Why an address may not be reached, or null when it may. */
  checkAddress(address: string): string | null {
    const parsed = parseClientAddress(address);
    if (!parsed) return `"${address}" is not an IP address`;
    const embedded = ipv4Compatible(parsed);
    if (embedded) return this.checkAddress(embedded);
    const normalised = parsed.toString();
    if (this.hasAllowlist && this.allowed(normalised)) return null;
    const range = parsed.range();
    if (range === 'unicast') return null;
    return `${normalised} is a ${range} address, which deliveries may not reach (list its network in DELIVERY_ALLOWED_NETWORKS to allow it)`;
  }

  /**
   * Resolves a host and checks every address it has: one forbidden address refuses the host, so
   * that a name cannot mix a public address with a private one and win on a retry. Resolves to
   * the addresses to connect to, all of them checked.
   */
  async checkHost(host: string): Promise<{ ok: true; addresses: LookupAddress[] } | { ok: false; reason: string }> {
    const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    if (isIP(literal)) {
      const reason = this.checkAddress(literal);
      return reason ? { ok: false, reason } : { ok: true, addresses: [{ address: literal, family: isIP(literal) }] };
    }
    let addresses: LookupAddress[];
    try {
      addresses = await this.resolve(literal);
    } catch (error) {
      return { ok: false, reason: `${literal} could not be resolved: ${(error as Error).message}` };
    }
    if (addresses.length === 0) return { ok: false, reason: `${literal} has no address` };
    for (const { address } of addresses) {
      const reason = this.checkAddress(address);
      if (reason) return { ok: false, reason: `${literal} resolves to ${reason}` };
    }
    return { ok: true, addresses };
  }

  /**
   * A `lookup` for net.connect (and so for an undici Agent's `connect` option): the connection
   * goes to an address this guard has just checked, never to a second, different answer of DNS.
   */
  readonly lookup = (
    hostname: string,
    options: { all?: boolean } | number,
    callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    this.checkHost(hostname).then(
      (result) => {
        if (!result.ok) {
          const error: NodeJS.ErrnoException = new Error(result.reason);
          error.code = 'ERR_SSRF_BLOCKED';
          callback(error, '', 0);
          return;
        }
        const all = typeof options === 'object' && options.all === true;
        const first = result.addresses[0] as LookupAddress;
        if (all) callback(null, result.addresses);
        else callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };
}

/**
 * The IPv4 address inside a deprecated IPv4-compatible IPv6 address (`::127.0.0.1`, ::/96 but
 * for `::` and `::1`), which ipaddr.js counts as plain unicast; null for any other address.
 */
function ipv4Compatible(address: ipaddr.IPv4 | ipaddr.IPv6): string | null {
  if (address.kind() !== 'ipv6') return null;
  const parts = (address as ipaddr.IPv6).parts;
  if (!parts.slice(0, 6).every((p) => p === 0)) return null;
  const [high = 0, low = 0] = parts.slice(6);
  if (high === 0 && low <= 1) return null;
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

export type ResolveAll = (host: string) => Promise<LookupAddress[]>;

function resolveAll(host: string): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) =>
    dnsLookup(host, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))),
  );
}
