// Which pg errors mean "this node (or the connection to it) is gone" rather than "this query is
// wrong". Only these trigger a retry on another node or a primary re-discovery.

const connectionCodes = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up / shutting down / in recovery for hot_standby=off)
  '53300', // too_many_connections: this node cannot take us now, another may
]);

const connectionMessages = [
  /Connection terminated/i,
  /connection timeout/i,
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error/i,
  /Client was closed/i,
  /the database system is (starting up|shutting down|in recovery)/i,
  /server closed the connection unexpectedly/i,
  /Query read timeout/i,
];

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A failure of the node or the connection, not of the statement. */
export function isConnectionError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const code = codeOf(err);
  if (code && (connectionCodes.has(code) || code.startsWith('08'))) return true;
  const message = (err as { message?: unknown }).message;
  if (typeof message === 'string' && connectionMessages.some((re) => re.test(message))) return true;
  const cause = (err as { cause?: unknown }).cause;
  return cause !== undefined && cause !== err && isConnectionError(cause);
}

/** 25006 read_only_sql_transaction: we wrote to a node that is (now) a standby. */
export function isReadOnlyError(err: unknown): boolean {
  return codeOf(err) === '25006';
}

/** The error says nothing was committed, so the write may go to the (new) primary again. */
export function isPrimaryLostError(err: unknown): boolean {
  return isReadOnlyError(err) || isConnectionError(err);
}
