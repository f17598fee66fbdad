import * as pulumi from '@pulumi/pulumi';
import * as k8s from '@pulumi/kubernetes';
import { StackConfigError } from '../stack-config';
import { durabilityMode, type Topology } from '../topology';
import { objectStoreName, objectStoreSpec, pluginBackupMethod, walArchiverPlugin, type BackupSettings } from './backup-object-store';
import { tierLabels } from './labels';
import { kubernetesNames } from './names';

/**
 * CloudNativePG operand image: PostgreSQL 16 (the major staging runs), a dated build of the current
 * minor, so a rollout never changes the server under a fixed spec. The "minimal" flavour has no
 * barman-cloud: the Barman Cloud plugin brings it in its sidecar.
 */
export const cnpgPostgresImage = 'ghcr.io/cloudnative-pg/postgresql:16.16-202611300810-minimal-trixie';

export type { BackupSettings } from './backup-object-store';

export interface ClusterSpecInput {
  topology: Topology;
  dbAppSecretName: string;
  /** The Barman Cloud plugin's ObjectStore the cluster archives WAL and base backups to. */
  objectStore: string;
  /** Folder in the object store; undefined = the Cluster's name. */
  backupServerName?: string;
  storageSize: string;
  storageClass?: string;
  /** ConfigMap of custom metrics queries (infra/kubernetes/monitoring.ts), when monitoring is on. */
  monitoringQueries?: { name: string; key: string };
}

const binarySuffix: Record<string, number> = { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50 };
const decimalSuffix: Record<string, number> = { k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15 };

/**
 * `max_slot_wal_keep_size` for a volume of `storageSize` (a Kubernetes quantity): a fifth of it.
 * Replication slots otherwise keep WAL without limit for a standby that lags or is gone, until the
 * primary's volume is full; the rest of the volume is left to the data and to the WAL that
 * max_wal_size and wal_keep_size keep. A standby that falls further behind is not lost: it
 * replays the missing WAL from the object store archive. Only the plain integer forms of a
 * quantity are accepted (no library here parses them; a wrong value stops the preview).
 */
export function slotWalKeepSize(storageSize: string): string {
  const m = /^([1-9][0-9]*)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/.exec(storageSize);
  if (!m) throw new StackConfigError(`dbStorageSize: expected a size such as 10Gi or 500Mi, got "${storageSize}"`);
  const bytes = Number(m[1]) * (binarySuffix[m[2] ?? ''] ?? decimalSuffix[m[2]]);
  const mb = Math.floor(bytes / 5 / 2 ** 20);
  if (mb < 64) throw new StackConfigError(`dbStorageSize: "${storageSize}" is too small for PostgreSQL's WAL; use at least 1Gi`);
  return `${mb}MB`;
}

/**
 * The `Cluster` spec: 1 + dbReplicas instances; quorum-synchronous (`ANY 1` over the standbys,
 * writes wait for one) exactly when the topology's durability mode says so; WAL archived
 * continuously to the object store by the Barman Cloud plugin; WAL kept for replication slots
 * capped. Pure, so tests check it field by field.
 */
export function cnpgClusterSpec(i: ClusterSpecInput): Record<string, unknown> {
  const t = i.topology;
  const sync = durabilityMode(t) === 'sync-quorum';
  return {
    instances: 1 + t.dbReplicas,
    imageName: cnpgPostgresImage,
    enableSuperuserAccess: false,
    // Rolling updates end with a switchover, not a restart of the primary in place.
    primaryUpdateStrategy: 'unsupervised',
    primaryUpdateMethod: 'switchover',
    postgresql: {
      parameters: {
        max_connections: String(t.database.maxConnections),
        superuser_reserved_connections: String(Math.min(t.database.reservedConnections, 10)),
        hot_standby_feedback: 'on',
        max_slot_wal_keep_size: slotWalKeepSize(i.storageSize),
      },
      ...(sync ? { synchronous: { method: 'any', number: 1, dataDurability: 'required' } } : {}),
    },
    bootstrap: {
      initdb: {
        database: t.database.name,
        owner: t.database.appUser,
        secret: { name: i.dbAppSecretName },
        encoding: 'UTF8',
        // pg_trgm treats Japanese as word characters only under a UTF-8 ctype (DESIGN §4).
        localeCollate: 'C.UTF-8',
        localeCType: 'C.UTF-8',
        postInitApplicationSQL: ['CREATE EXTENSION IF NOT EXISTS pg_trgm'],
      },
    },
    storage: { size: i.storageSize, ...(i.storageClass ? { storageClass: i.storageClass } : {}) },
    affinity: { enablePodAntiAffinity: true, topologyKey: 'kubernetes.io/hostname', podAntiAffinityType: 'preferred' },
    inheritedMetadata: { labels: tierLabels(t, 'postgres') },
    resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { memory: '2Gi' } },
    plugins: [walArchiverPlugin(i.objectStore, i.backupServerName)],
    ...(i.monitoringQueries ? { monitoring: { customQueriesConfigMap: [i.monitoringQueries] } } : {}),
  };
}

export interface DatabaseArgs {
  topology: Topology;
  namespace: pulumi.Input<string>;
  dbAppSecretName: string;
  backup: BackupSettings & { accessKeyId: pulumi.Output<string>; secretAccessKey: pulumi.Output<string> };
  storageSize: string;
  storageClass?: string;
  monitoringQueries?: { name: string; key: string };
  dependsOn?: pulumi.Resource[];
}

/**
 * PostgreSQL run by the CloudNativePG operator with the Barman Cloud plugin (prerequisites, see
 * README): the `Cluster`, the plugin's `ObjectStore` with its credentials, and a daily
 * `ScheduledBackup`. The operator creates `<name>-rw` (primary) and `<name>-ro` (replicas)
 * Services, which feed the app's primary/read settings, and handles failover, so the app never
 * needs a node list here.
 */
export class Database extends pulumi.ComponentResource {
  readonly cluster: k8s.apiextensions.CustomResource;
  readonly primaryService: string;
  readonly readService: string;

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super('aidiary:kubernetes:Database', name, {}, opts);
    const t = args.topology;
    const names = kubernetesNames(t);
    const backupSecret = new k8s.core.v1.Secret(`${name}-backup-credentials`, {
      metadata: { name: names.dbBackupSecret, namespace: args.namespace },
      type: 'Opaque',
      stringData: { ACCESS_KEY_ID: args.backup.accessKeyId, ACCESS_SECRET_KEY: args.backup.secretAccessKey },
    }, { parent: this });

    const store = new k8s.apiextensions.CustomResource(`${name}-object-store`, {
      apiVersion: 'barmancloud.cnpg.io/v1',
      kind: 'ObjectStore',
      metadata: { name: objectStoreName(t), namespace: args.namespace, labels: tierLabels(t, 'postgres') },
      spec: objectStoreSpec(args.backup, names.dbBackupSecret),
    }, { parent: this, dependsOn: [backupSecret] });

    this.cluster = new k8s.apiextensions.CustomResource(`${name}-cluster`, {
      apiVersion: 'postgresql.cnpg.io/v1',
      kind: 'Cluster',
      metadata: {
        name: names.dbCluster,
        namespace: args.namespace,
        labels: tierLabels(t, 'postgres'),
        // Pulumi waits for the operator to report the cluster Ready before migrations run.
        annotations: { 'pulumi.com/waitFor': 'condition=Ready' },
      },
      spec: cnpgClusterSpec({
        topology: t,
        dbAppSecretName: args.dbAppSecretName,
        objectStore: objectStoreName(t),
        backupServerName: args.backup.serverName,
        storageSize: args.storageSize,
        storageClass: args.storageClass,
        monitoringQueries: args.monitoringQueries,
      }),
    }, { parent: this, dependsOn: [store, ...(args.dependsOn ?? [])] });

    new k8s.apiextensions.CustomResource(`${name}-scheduled-backup`, {
      apiVersion: 'postgresql.cnpg.io/v1',
      kind: 'ScheduledBackup',
      metadata: { name: `${names.dbCluster}-daily`, namespace: args.namespace, labels: tierLabels(t, 'postgres') },
      spec: {
        schedule: args.backup.schedule,
        cluster: { name: names.dbCluster },
        ...pluginBackupMethod,
        backupOwnerReference: 'self',
        immediate: true,
      },
    }, { parent: this, dependsOn: [this.cluster] });

    this.primaryService = names.dbReadWrite;
    this.readService = names.dbReadOnly;
    this.registerOutputs({ primaryService: this.primaryService, readService: this.readService });
  }
}
