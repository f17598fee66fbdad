// LSN arithmetic in JS, so lag in bytes needs no extra round trip (pg_wal_lsn_diff).

export function lsnToBigInt(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

/** Bytes from `from` up to `to` (0 when `from` is ahead). */
export function lsnDiffBytes(to: string, from: string): number {
  const d = lsnToBigInt(to) - lsnToBigInt(from);
  return d > 0n ? Number(d) : 0;
}

export function maxLsn(a: string | null | undefined, b: string | null | undefined): string | null {
  if (!a) return b ?? null;
  if (!b) return a;
  return lsnToBigInt(a) >= lsnToBigInt(b) ? a : b;
}
