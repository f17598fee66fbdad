import * as pulumi from '@pulumi/pulumi';
import type * as docker from '@pulumi/docker';
import { appEnvironment, type AppInstance, type Topology } from '../topology';
import { appSecretFiles, secretUpload } from './secret-files';
import { dockerServiceAddresses } from './service-addresses';

export interface AppSecretValues {
  dbPassword: pulumi.Output<string>;
  sessionSecret: pulumi.Output<string>;
  adminPassword: pulumi.Output<string>;
}

/** The env an app container (or the migration run) gets: topology-derived, secrets by file path. */
export function appContainerEnv(t: Topology, app: AppInstance): Record<string, string> {
  return appEnvironment(t, app, dockerServiceAddresses(t), appSecretFiles);
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
  ];
}

/** Non-root `node` user of the image, group 0 so it can read the root-owned 0440 uploads. */
export const appUser = '1000:0';
