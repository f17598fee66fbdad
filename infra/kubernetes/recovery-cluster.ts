import { barmanCloudPlugin, walArchiverPlugin } from './backup-object-store';

// Point-in-time recovery of the prod database (README, "Restoring the database to a point in
// time"): the Cluster as it runs, turned into a Cluster of the same name that bootstraps from the
// base backups and WAL that the Barman Cloud plugin archived, replaying up to a target time. The
// recovered cluster archives under a new server name, because the origin's folder in the object
// store is not empty and the plugin refuses to archive a new cluster's WAL into it.

/** The parts of a CloudNativePG Cluster that the recovery reads (e.g. `kubectl get cluster -o json`). */
export interface ClusterObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  spec: Record<string, any>;
  [key: string]: unknown;
}

export interface RecoveryOptions {
  /** PostgreSQL timestamp with an explicit zone, e.g. `2026-12-01 09:30:00+00`; UTC `Z` works too. */
  targetTime: string;
  /** Folder in the object store the recovered cluster archives to; must differ from the origin's. */
  archiveServerName: string;
}

export class RecoveryInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecoveryInputError';
  }
}

const withZone = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:\d{2})?)$/;
const serverNamePattern = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function walArchiver(spec: Record<string, any>): { name: string; parameters: Record<string, string> } {
  const archiver = (spec.plugins ?? []).find((p: { name?: string; isWALArchiver?: boolean }) => p.name === barmanCloudPlugin && p.isWALArchiver);
  if (!archiver?.parameters?.barmanObjectName) {
    throw new RecoveryInputError(`the cluster has no ${barmanCloudPlugin} WAL archiver in .spec.plugins: nothing to recover from`);
  }
  return archiver;
}

/**
 * The recovery `Cluster` for `current` (same name, namespace, labels and spec except how it
 * bootstraps and where it archives). The application database, its owner and the owner's
 * password Secret carry over, so the app's credentials keep working.
 */
export function recoveryCluster(current: ClusterObject, o: RecoveryOptions): ClusterObject {
  if (current.apiVersion !== 'postgresql.cnpg.io/v1' || current.kind !== 'Cluster') {
    throw new RecoveryInputError(`expected a postgresql.cnpg.io/v1 Cluster, got ${current.apiVersion} ${current.kind}`);
  }
  if (!withZone.test(o.targetTime) || Number.isNaN(Date.parse(o.targetTime.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00')))) {
    throw new RecoveryInputError(`target time "${o.targetTime}": expected a timestamp with its zone, e.g. 2026-12-01 09:30:00+00`);
  }
  const { bootstrap, externalClusters: _origins, plugins: _plugins, ...spec } = current.spec;
  const archiver = walArchiver(current.spec);
  const originServerName = archiver.parameters.serverName ?? current.metadata.name;
  if (!serverNamePattern.test(o.archiveServerName)) {
    throw new RecoveryInputError(`archive server name "${o.archiveServerName}": use lowercase letters, digits and dashes`);
  }
  if (o.archiveServerName === originServerName) {
    throw new RecoveryInputError(`archive server name "${o.archiveServerName}" is the origin's: pick a new one, e.g. ${originServerName}-r1`);
  }
  // initdb for a cluster created by the stack; recovery for one that was itself recovered.
  const { database, owner, secret } = bootstrap?.initdb ?? bootstrap?.recovery ?? {};
  const origin = 'origin';
  return {
    apiVersion: current.apiVersion,
    kind: current.kind,
    metadata: {
      name: current.metadata.name,
      ...(current.metadata.namespace ? { namespace: current.metadata.namespace } : {}),
      ...(current.metadata.labels ? { labels: current.metadata.labels } : {}),
    },
    spec: {
      ...spec,
      bootstrap: {
        recovery: {
          source: origin,
          ...(database ? { database } : {}),
          ...(owner ? { owner } : {}),
          ...(secret ? { secret } : {}),
          recoveryTarget: { targetTime: o.targetTime },
        },
      },
      externalClusters: [{
        name: origin,
        plugin: { name: barmanCloudPlugin, parameters: { barmanObjectName: archiver.parameters.barmanObjectName, serverName: originServerName } },
      }],
      plugins: [walArchiverPlugin(archiver.parameters.barmanObjectName, o.archiveServerName)],
    },
  };
}
