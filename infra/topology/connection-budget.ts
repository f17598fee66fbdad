import type { DatabaseConfig, Target } from './model';

// PostgreSQL's max_connections, sized once per stack for the largest app count it accepts plus
// the extra apps a release runs while it replaces them. Each app's pool is fixed, so changing
// appReplicas never changes any app's environment (no app is replaced) and never changes
// max_connections (no PostgreSQL restart).

/**
 * Connections each app holds on every DB node besides its pool: the node monitor's own
 * one-connection probe pool (app/db/router.ts; kept apart so a saturated pool cannot blind it).
 * test/unit/topology.test.ts checks it against the app's MONITOR_CONNECTIONS_PER_NODE.
 */
export const MONITOR_CONNECTIONS_PER_APP = 1;

/** The migration run's pool (`aidiary migrate`, primary only), which overlaps the old apps. */
export const MIGRATION_POOL_SIZE = 2;

/** The app Deployment's rolling-update surge on Kubernetes (infra/kubernetes/app-tier.ts). */
export const KUBERNETES_MAX_SURGE = 1;

/** The largest dbReplicas the topology accepts; walsenders are budgeted for it, not the current count. */
export const MAX_DB_REPLICAS = 8;

/**
 * App instances that run on top of `apps` while a release replaces them:
 * - docker: every app container is replaced create-before-delete and Pulumi deletes the old ones
 *   only at the end of the update, so for a while every app runs twice;
 * - kubernetes: the Deployment's maxSurge;
 * - local: the runner stops an app before it starts its replacement.
 */
export function releaseSurge(target: Target, apps: number): number {
  if (target === 'docker') return apps;
  if (target === 'kubernetes') return KUBERNETES_MAX_SURGE;
  return 0;
}

export interface ConnectionBudget {
  /** App instances counted: the count, plus the release surge. */
  apps: number;
  surge: number;
  /** Per app and node: the fixed pool plus the monitor connection. */
  perApp: number;
  migration: number;
  reserved: number;
  /** One per possible standby plus a base backup (counted although PostgreSQL 12+ keeps them apart). */
  walSenders: number;
  /** The sum: what max_connections must allow on every node. */
  total: number;
}

/** The connections every node must allow when `apps` apps (default: the maximum) run a release. */
export function connectionBudget(
  target: Target,
  db: Pick<DatabaseConfig, 'poolPerApp' | 'maxAppReplicas' | 'reservedConnections'>,
  apps = db.maxAppReplicas,
): ConnectionBudget {
  const surge = releaseSurge(target, apps);
  const perApp = db.poolPerApp + MONITOR_CONNECTIONS_PER_APP;
  const migration = MIGRATION_POOL_SIZE;
  const walSenders = MAX_DB_REPLICAS + 1;
  const total = (apps + surge) * perApp + migration + db.reservedConnections + walSenders;
  return { apps: apps + surge, surge, perApp, migration, reserved: db.reservedConnections, walSenders, total };
}
