import type pg from 'pg';
import type { FastifyBaseLogger } from 'fastify';
import { lsnToBigInt } from './lsn';

// Service mode (Kubernetes): the read Service hides which replica a pooled connection reached.
// Each connection is identified once, when it connects (server address and port, and the
// cluster's system_identifier so a re-created cluster at the same address is not confused with
// the old one), and the freshest LSN seen per identified node is kept, so a read-your-writes read
// can use a connection whose node is known to have replayed the caller's LSN.

export interface NodeIdentity {
  /** `addr:port` of the server behind the Service (the pod), used as X-DB-Node. */
  label: string;
  systemIdentifier: string;
}

const identifySql = `SELECT coalesce(host(inet_server_addr()), 'local') AS addr, coalesce(inet_server_port(), 0) AS port,
  (SELECT system_identifier FROM pg_control_system())::text AS sysid`;

export class ServiceIdentities {
  private readonly byClient = new WeakMap<pg.PoolClient | pg.Client, NodeIdentity>();
  private readonly lsnByNode = new Map<string, string>();

  constructor(private readonly logger: FastifyBaseLogger) {}

  /** Attach to a pool: every new connection is identified before its first use. */
  attach(pool: pg.Pool): void {
    pool.on('connect', (client) => {
      // Queries issued in 'connect' run before the checkout's own queries (pg queues them).
      client.query<{ addr: string; port: number; sysid: string }>(identifySql).then(({ rows }) => {
        this.byClient.set(client, { label: `${rows[0].addr}:${rows[0].port}`, systemIdentifier: rows[0].sysid });
      }, (err) => this.logger.warn({ err }, 'db: could not identify a pooled connection'));
    });
  }

  identity(client: pg.PoolClient): NodeIdentity | undefined {
    return this.byClient.get(client);
  }

  private key(id: NodeIdentity): string {
    return `${id.systemIdentifier}/${id.label}`;
  }

  knownLsn(id: NodeIdentity): string | undefined {
    return this.lsnByNode.get(this.key(id));
  }

  observe(id: NodeIdentity, lsn: string | null): void {
    if (!lsn) return;
    const k = this.key(id);
    const prev = this.lsnByNode.get(k);
    if (!prev || lsnToBigInt(lsn) > lsnToBigInt(prev)) this.lsnByNode.set(k, lsn);
  }
}
