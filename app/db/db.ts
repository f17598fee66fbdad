import type { QueryResultRow } from 'pg';

// The data layer's seam. Queries are written against `Db`; the implementation decides which node
// runs them (app/db/router.ts: writes on the primary, reads on a replica that has replayed the
// caller's LSN, else the primary). Keep every public page to at most 2 round trips per read().

/** Anything that runs a query: a pooled client or a transaction client. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(
    config: { name?: string; text: string; values?: unknown[] },
  ): Promise<{ rows: R[]; rowCount: number | null }>;
}

/** What a reader must have seen, for read-your-writes and monotonic reads. */
export interface ReadContext {
  /** The newest commit LSN this reader must see (e.g. the session's last write), `X/Y` text form. */
  minLsn?: string | null;
  /** Force the primary (e.g. a read that decides a write). */
  primary?: boolean;
  /**
   * false: the caller ignores the returned LSN (a page-cache fill: the entry keeps its minLsn), so
   * the router skips the post-read LSN query that monotonic readers need (one round trip).
   */
  trackLsn?: boolean;
}

export interface ReadResult<T> {
  value: T;
  /** The node that answered, e.g. `pg-1` (sent as X-DB-Node). */
  node: string;
  /** That node's replay (or, on the primary, current) LSN when the read started, if known. */
  lsn?: string | null;
}

export interface WriteResult<T> {
  value: T;
  node: string;
  /** The commit LSN of the transaction (pg_current_wal_insert_lsn() after COMMIT). */
  lsn: string;
}

export interface Db {
  /** Runs `fn` on one node (a replica when allowed); one retry on another node for a connection-class error. */
  read<T>(ctx: ReadContext, fn: (q: Queryable) => Promise<T>): Promise<ReadResult<T>>;
  /** Runs `fn` in a transaction on the primary and returns the commit LSN. */
  write<T>(fn: (q: Queryable) => Promise<T>): Promise<WriteResult<T>>;
  /** A node is reachable and the app is able to serve reads. */
  canServeReads(): Promise<boolean>;
  close(): Promise<void>;
}

/** Compare two `X/Y` LSNs: negative when a < b. */
export function compareLsn(a: string, b: string): number {
  const [ah, al] = a.split('/').map((p) => BigInt(`0x${p}`));
  const [bh, bl] = b.split('/').map((p) => BigInt(`0x${p}`));
  const av = (ah << 32n) + al;
  const bv = (bh << 32n) + bl;
  return av < bv ? -1 : av > bv ? 1 : 0;
}
