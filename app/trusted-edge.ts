import { BlockList, isIP } from 'node:net';

// The peers allowed to speak for the client (X-Forwarded-For, X-Forwarded-Proto, X-Request-Id):
// the edge's addresses/CIDRs from AIDIARY_TRUSTED_EDGE. node:net's BlockList does the CIDR
// matching (IPv4, IPv6 and IPv4-mapped IPv6 peers such as ::ffff:127.0.0.1).

export type TrustCheck = (address: string | undefined) => boolean;

export function trustedEdgeCheck(entries: string[]): TrustCheck {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const [addr, bits] = entry.split('/');
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return (address) => {
    if (!address) return false;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return list.check(mapped[1], 'ipv4');
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };
}

/**
 * The trust check per peer address, remembered: it runs on every request (request id, client
 * address) and BlockList.check builds native address objects each time. Peers are few (the edge's
 * addresses); the memo is dropped if it ever grows past 1,024.
 */
export function memoizedByAddress(check: TrustCheck): TrustCheck {
  const memo = new Map<string, boolean>();
  return (address) => {
    if (!address) return false;
    let trusted = memo.get(address);
    if (trusted === undefined) {
      if (memo.size >= 1024) memo.clear();
      memo.set(address, (trusted = check(address)));
    }
    return trusted;
  };
}
