import * as pulumi from '@pulumi/pulumi';
import * as k8s from '@pulumi/kubernetes';
import { durabilityMode, type Topology } from '../topology';
import { tierLabels } from './labels';
import { kubernetesNames } from './names';

/** CloudNativePG operand image (PostgreSQL 16, same major as staging). */
export const cnpgPostgresImage = 'ghcr.io/cloudnative-pg/postgresql:16.6';

export interface BackupSettings {
  destinationPath: string;
  endpointUrl?: string;
  retention: string;
  schedule: string;
}

export interface ClusterSpecInput {
  topology: Topology;
  dbAppSecretName: string;
  backupSecretName: string;
  backup: BackupSettings;
  storageSize: string;
  storageClass?: string;
}

/**
 * The `Cluster` spec: 1 + dbReplicas instances; quorum-synchronous (`ANY 1` over the standbys,
 * writes wait for one) exactly when the topology's durability mode says so; WAL archived
 * continuously to the object store. Pure, so tests check it field by field.
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
    backup: {
      retentionPolicy: i.backup.retention,
      barmanObjectStore: {
        destinationPath: i.backup.destinationPath,
        ...(i.backup.endpointUrl ? { endpointURL: i.backup.endpointUrl } : {}),
        s3Credentials: {
          accessKeyId: { name: i.backupSecretName, key: 'ACCESS_KEY_ID' },
          secretAccessKey: { name: i.backupSecretName, key: 'ACCESS_SECRET_KEY' },
        },
        wal: { compression: 'gzip', maxParallel: 2 },
        data: { compression: 'gzip' },
      },
    },
  };
}

export interface DatabaseArgs {
  topology: Topology;
  namespace: pulumi.Input<string>;
  dbAppSecretName: string;
  backup: BackupSettings & { accessKeyId: pulumi.Output<string>; secretAccessKey: pulumi.Output<string> };
  storageSize: string;
  storageClass?: string;
  dependsOn?: pulumi.Resource[];
}

/**
 * PostgreSQL run by the CloudNativePG operator (a prerequisite, see README): the `Cluster`, its
 * object-store credentials and a daily `ScheduledBackup`. The operator creates `<name>-rw`
 * (primary) and `<name>-ro` (replicas) Services, which feed the app's primary/read settings,
 * and handles failover, so the app never needs a node list here.
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
        backupSecretName: names.dbBackupSecret,
        backup: args.backup,
        storageSize: args.storageSize,
        storageClass: args.storageClass,
      }),
    }, { parent: this, dependsOn: [backupSecret, ...(args.dependsOn ?? [])] });

    new k8s.apiextensions.CustomResource(`${name}-scheduled-backup`, {
      apiVersion: 'postgresql.cnpg.io/v1',
      kind: 'ScheduledBackup',
      metadata: { name: `${names.dbCluster}-daily`, namespace: args.namespace, labels: tierLabels(t, 'postgres') },
      spec: {
        schedule: args.backup.schedule,
        cluster: { name: names.dbCluster },
        method: 'barmanObjectStore',
        backupOwnerReference: 'self',
        immediate: true,
      },
    }, { parent: this, dependsOn: [this.cluster] });

    this.primaryService = names.dbReadWrite;
    this.readService = names.dbReadOnly;
    this.registerOutputs({ primaryService: this.primaryService, readService: this.readService });
  }
}
