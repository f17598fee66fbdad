import * as pulumi from '@pulumi/pulumi';
import type * as docker from '@pulumi/docker';
import { appEnvironment, MIGRATION_POOL_SIZE, type AppInstance, type Topology } from '../topology';
import { cdnAppEnv, cdnSecretValues, type CdnStackSettings } from '../stack-config';
import { appSecretFiles, cdnSecretFiles, secretUpload } from './secret-files';
import { dockerServiceAddresses } from './service-addresses';

export interface AppSecretValues {
  dbPassword: pulumi.Output<string>;
  sessionSecret: pulumi.Output<string>;
  adminPassword: pulumi.Output<string>;
  /** The app user's password on each Redis role. */
  redisSessionsPassword: pulumi.Output<string>;
  redisCachePassword: pulumi.Output<string>;
  /** The CDN purge adapter and its credentials (apps only; the migration run has no use for them). */
  cdn?: CdnStackSettings;
}

/**
 * The env an app container gets: topology-derived, secrets by file path. The migration run passes
 * `primaryOnly` (it writes, needs one connection): then it does not follow the replica or app
 * counts, and scaling never re-runs it.
 */
export function appContainerEnv(t: Topology, app: AppInstance, opts: { primaryOnly?: boolean; cdn?: CdnStackSettings } = {}): Record<string, string> {
  const addresses = dockerServiceAddresses(t);
  if (!opts.primaryOnly) return { ...appEnvironment(t, app, addresses, appSecretFiles), ...(opts.cdn ? cdnAppEnv(opts.cdn, cdnSecretFiles) : {}) };
  const env = appEnvironment(t, app, { ...addresses, dbNodes: addresses.dbNodes!.slice(0, 1) }, appSecretFiles);
  return { ...env, AIDIARY_DB_POOL_SIZE: String(MIGRATION_POOL_SIZE) };
}

export function envList(env: Record<string, string>): string[] {
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/** The secret files behind AIDIARY_*_FILE, uploaded before the container starts. */
export function appSecretUploads(s: AppSecretValues): docker.types.input.ContainerUpload[] {
  return [
    secretUpload(appSecretFiles.dbPasswordFile, s.dbPassword),
    secretUpload(appSecretFiles.sessionSecretFile, s.sessionSecret),
    secretUpload(appSecretFiles.adminPasswordFile, s.adminPassword),
    secretUpload(appSecretFiles.redisSessionsPasswordFile, s.redisSessionsPassword),
    secretUpload(appSecretFiles.redisCachePasswordFile, s.redisCachePassword),
    ...cdnSecretUploads(s.cdn),
  ];
}

/** The CDN credential file the selected adapter reads (none without a CDN). */
function cdnSecretUploads(cdn: CdnStackSettings | undefined): docker.types.input.ContainerUpload[] {
  const values = cdn ? cdnSecretValues(cdn) : {};
  return [
    ...(values.apiToken ? [secretUpload(cdnSecretFiles.apiTokenFile, values.apiToken)] : []),
    ...(values.awsSecretAccessKey ? [secretUpload(cdnSecretFiles.awsSecretAccessKeyFile, values.awsSecretAccessKey)] : []),
  ];
}

/** Non-root `node` user of the image, group 0 so it can read the root-owned 0440 uploads. */
export const appUser = '1000:0';
