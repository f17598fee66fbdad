import { StackConfigError } from '../stack-config';
import type { Topology } from '../topology';
import { kubernetesNames } from './names';

// Backups and WAL archiving through the Barman Cloud plugin for CloudNativePG (see README, "Prod
// prerequisites"). The in-tree `.spec.backup.barmanObjectStore` of a Cluster is deprecated since
// CloudNativePG 1.26 with its removal announced; the plugin takes the same object store
// configuration in its own `ObjectStore` resource, and the Cluster and ScheduledBackup name the
// plugin instead.

/** The plugin's name in `.spec.plugins`, `externalClusters[].plugin` and backups. */
export const barmanCloudPlugin = 'barman-cloud.cloudnative-pg.io';

export interface BackupSettings {
  destinationPath: string;
  endpointUrl?: string;
  retention: string;
  schedule: string;
  /** Folder under destinationPath this cluster archives to; undefined = the Cluster's name. */
  serverName?: string;
}

export function objectStoreName(t: Topology): string {
  return `${kubernetesNames(t).dbCluster}-store`;
}

/**
 * The `ObjectStore` spec: where base backups and WAL go, the credentials Secret, compression and
 * how long backups are kept. The plugin enforces the retention (it moved there from the Cluster).
 */
export function objectStoreSpec(backup: BackupSettings, credentialsSecretName: string): Record<string, unknown> {
  if (!/^[1-9][0-9]*[dwm]$/.test(backup.retention)) {
    throw new StackConfigError(`backupRetention: expected days, weeks or months such as 30d, 4w or 6m, got "${backup.retention}"`);
  }
  return {
    configuration: {
      destinationPath: backup.destinationPath,
      ...(backup.endpointUrl ? { endpointURL: backup.endpointUrl } : {}),
      s3Credentials: {
        accessKeyId: { name: credentialsSecretName, key: 'ACCESS_KEY_ID' },
        secretAccessKey: { name: credentialsSecretName, key: 'ACCESS_SECRET_KEY' },
      },
      wal: { compression: 'gzip', maxParallel: 2 },
      data: { compression: 'gzip' },
    },
    retentionPolicy: backup.retention,
  };
}

/** The Cluster's `.spec.plugins` entry that makes the plugin archive WAL to the object store. */
export function walArchiverPlugin(objectStore: string, serverName?: string): Record<string, unknown> {
  return {
    name: barmanCloudPlugin,
    isWALArchiver: true,
    parameters: { barmanObjectName: objectStore, ...(serverName ? { serverName } : {}) },
  };
}

/** How a Backup or ScheduledBackup asks for a base backup through the plugin. */
export const pluginBackupMethod = { method: 'plugin', pluginConfiguration: { name: barmanCloudPlugin } } as const;
