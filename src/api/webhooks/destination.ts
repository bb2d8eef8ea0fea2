/**
 * Where deliveries may go. A webhook URL is chosen by whoever holds the admin token, and the API process
 * POSTs to it from inside your network: without a policy that is a server-side request forgery waiting to
 * happen (cloud metadata, databases on loopback, internal services). So by default a destination whose
 * address is
 *
 *   loopback (127.0.0.0/8, ::1), unspecified (0.0.0.0/8, ::), private (RFC 1918, fc00::/7), link-local
 *   (169.254.0.0/16, fe80::/10), carrier-grade NAT (100.64.0.0/10), or a cloud metadata address
 *   (169.254.169.254, fd00:ec2::254)
 *
 * is refused (IPv4-mapped IPv6 addresses count as their IPv4 address), unless SALVAGE_WEBHOOK_ALLOW_PRIVATE=true
 * or the address is in SALVAGE_WEBHOOK_ALLOW_CIDRS. Ranges are node's net.BlockList, not hand-written math.
 *
 * The check runs at registration (a 400 naming `url`) and again on every attempt, before any connection:
 * `lookup` is the socket's own DNS lookup (net.connect's `lookup` option), so the address checked is the
 * address connected to, and a name re-pointed at a refused address after the check (DNS rebinding) cannot
 * slip through. IP-literal URLs skip DNS and are checked by `refusal` before the request is made.
 */
import { promises as dns } from "node:dns";
import { BlockList, type LookupFunction, isIP } from "node:net";
import type { DestinationSettings } from "./config.js";

/** Resolves a host name to every address it has (dns.lookup with all: true). */
export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

const defaultResolver: Resolver = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

/** An attempt refused before any connection because of where it would go. */
export class DestinationRefusedError extends Error {
  readonly code = "ERR_WEBHOOK_DESTINATION_REFUSED";
}

const REFUSED: readonly { reason: string; subnets: readonly (readonly [string, number, "ipv4" | "ipv6"])[] }[] = [
  // Most specific first: the metadata addresses are link-local / unique local too.
  { reason: "a cloud metadata address", subnets: [["169.254.169.254", 32, "ipv4"], ["fd00:ec2::254", 128, "ipv6"]] },
  { reason: "loopback", subnets: [["127.0.0.0", 8, "ipv4"], ["::1", 128, "ipv6"]] },
  { reason: "unspecified", subnets: [["0.0.0.0", 8, "ipv4"], ["::", 128, "ipv6"]] },
  { reason: "private (RFC 1918)", subnets: [["10.0.0.0", 8, "ipv4"], ["172.16.0.0", 12, "ipv4"], ["192.168.0.0", 16, "ipv4"]] },
  { reason: "private (unique local fc00::/7)", subnets: [["fc00::", 7, "ipv6"]] },
  { reason: "link-local", subnets: [["169.254.0.0", 16, "ipv4"], ["fe80::", 10, "ipv6"]] },
  { reason: "carrier-grade NAT (100.64.0.0/10)", subnets: [["100.64.0.0", 10, "ipv4"]] },
];

function blockList(subnets: readonly (readonly [string, number, "ipv4" | "ipv6"])[]): BlockList {
  const list = new BlockList();
  for (const [address, prefix, family] of subnets) list.addSubnet(address, prefix, family);
  return list;
}

const REFUSED_LISTS = REFUSED.map((r) => ({ reason: r.reason, list: blockList(r.subnets) }));
const HOW_TO_ALLOW = "allow it with SALVAGE_WEBHOOK_ALLOW_PRIVATE=true or SALVAGE_WEBHOOK_ALLOW_CIDRS";

/** Why an IP address is refused by default ("loopback", …), or null for a public address. */
export function refusedRange(ip: string): string | null {
  const family = isIP(ip);
  if (family === 0) throw new TypeError(`not an IP address: ${ip}`);
  const type = family === 4 ? "ipv4" : "ipv6";
  return REFUSED_LISTS.find((r) => r.list.check(ip, type))?.reason ?? null;
}

/** The URL's host as an IP address when it is one ("[::1]" → "::1"), else undefined. */
export function ipLiteral(url: URL): string | undefined {
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  return isIP(host) ? host : undefined;
}

export type UrlCheck = { ok: true } | { ok: false; reason: string };

export class DestinationPolicy {
  private readonly allowed: BlockList;

  constructor(
    private readonly settings: DestinationSettings,
    private readonly resolve: Resolver = defaultResolver,
  ) {
    this.allowed = blockList(settings.allowCidrs);
  }

  /** Why delivering to `ip` is refused ("127.0.0.1 is loopback; allow it with …"), or null when allowed. */
  refusal(ip: string): string | null {
    if (this.settings.allowPrivate) return null;
    const range = refusedRange(ip);
    if (range === null || this.allowed.check(ip, isIP(ip) === 4 ? "ipv4" : "ipv6")) return null;
    return `${ip} is ${range}; ${HOW_TO_ALLOW}`;
  }

  /**
   * The registration check: an IP literal is checked as is; a host name is resolved (at most `timeoutMs`)
   * and refused if any of its addresses is. A name that does not resolve (yet) is accepted: every attempt
   * checks again.
   */
  async checkUrl(raw: string, timeoutMs = 5_000): Promise<UrlCheck> {
    const url = new URL(raw);
    const literal = ipLiteral(url);
    if (literal !== undefined) {
      const why = this.refusal(literal);
      return why === null ? { ok: true } : { ok: false, reason: `refused destination: ${why}` };
    }
    if (this.settings.allowPrivate) return { ok: true };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)));
    try {
      const addresses = await Promise.race([this.resolve(url.hostname), timeout]);
      if (!addresses) return { ok: true };
      const why = this.refusedAmong(url.hostname, addresses);
      return why === null ? { ok: true } : { ok: false, reason: `refused destination: ${why}` };
    } catch {
      return { ok: true };
    } finally {
      clearTimeout(timer);
    }
  }

  private refusedAmong(hostname: string, addresses: readonly { address: string }[]): string | null {
    for (const { address } of addresses) {
      const why = this.refusal(address);
      if (why !== null) return `${hostname} resolves to ${why}`;
    }
    return null;
  }

  /**
   * net.connect's `lookup` option: resolves `hostname`, fails with a DestinationRefusedError if any address
   * is refused (before any connection is opened), else hands the checked addresses to the socket.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    const family = options.family === 4 || options.family === "IPv4" ? 4 : options.family === 6 || options.family === "IPv6" ? 6 : 0;
    this.resolve(hostname).then(
      (all) => {
        const addresses = all.filter((a) => family === 0 || a.family === family);
        if (addresses.length === 0) {
          const error: NodeJS.ErrnoException = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND", hostname });
          return callback(error, options.all ? [] : "", 0);
        }
        const why = this.refusedAmong(hostname, addresses);
        if (why !== null) return callback(new DestinationRefusedError(`refused destination: ${why}`), options.all ? [] : "", 0);
        if (options.all) return callback(null, addresses);
        callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, options.all ? [] : "", 0),
    );
  };
}
