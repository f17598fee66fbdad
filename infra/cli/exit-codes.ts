// The CLI's exit codes (ARCHITECTURE.md, CLI contract). Scripts and monitors branch on them, so a
// code keeps its meaning for good; new situations get new numbers.
export const exitCodes = {
  /** The command did what it was asked. */
  ok: 0,
  /** It tried and failed (the message says why), or the operator declined a confirmation. */
  failure: 1,
  /** The command line is wrong: unknown command or option, bad value, missing confirmation. */
  usage: 2,
  /** No cluster is recorded in the state dir (`aidiary up` first). */
  noCluster: 3,
  /** `status`: the cluster answers but at least one node is unhealthy. */
  degraded: 4,
} as const;

/** A wrong command line: exits 2, its message names the fix. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The state dir holds no cluster: exits 3. */
export class NoClusterError extends Error {
  constructor(readonly stateDir: string) {
    super(`no cluster in ${stateDir}; run \`aidiary up\` first (or point --state-dir / AIDIARY_STATE_DIR at the cluster's state directory)`);
    this.name = 'NoClusterError';
  }
}

export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError) return exitCodes.usage;
  if (err instanceof NoClusterError) return exitCodes.noCluster;
  return exitCodes.failure;
}
