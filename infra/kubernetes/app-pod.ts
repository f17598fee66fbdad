import type * as pulumi from '@pulumi/pulumi';
import type * as k8s from '@pulumi/kubernetes';
import { appEnvironment, appInstances, MIGRATION_POOL_SIZE, type Topology } from '../topology';
import { kubernetesServiceAddresses } from './service-addresses';
import { cdnAppEnv, cdnSecretValues, type CdnStackSettings } from '../stack-config';

const secretDir = '/var/run/secrets/aidiary';
export const appSecretFiles = {
  dbPasswordFile: `${secretDir}/db-password`,
  sessionSecretFile: `${secretDir}/session-secret`,
  adminPasswordFile: `${secretDir}/admin-password`,
  redisSessionsPasswordFile: `${secretDir}/redis-sessions-password`,
  redisCachePasswordFile: `${secretDir}/redis-cache-password`,
} as const;

/** The CDN purge credentials' keys in the app Secret, and their files (cdnProvider). */
export const cdnSecretKeys = { apiToken: 'cdn-api-token', awsSecretAccessKey: 'cdn-aws-secret-access-key' } as const;
export const cdnSecretFiles = {
  apiTokenFile: `${secretDir}/${cdnSecretKeys.apiToken}`,
  awsSecretAccessKeyFile: `${secretDir}/${cdnSecretKeys.awsSecretAccessKey}`,
} as const;

/** The app Secret's CDN entries (key → secret value) for the selected adapter. */
export function cdnSecretData(cdn: CdnStackSettings | undefined): Record<string, pulumi.Output<string>> {
  const values = cdn ? cdnSecretValues(cdn) : {};
  return {
    ...(values.apiToken ? { [cdnSecretKeys.apiToken]: values.apiToken } : {}),
    ...(values.awsSecretAccessKey ? { [cdnSecretKeys.awsSecretAccessKey]: values.awsSecretAccessKey } : {}),
  };
}

/** uid/gid of the image's `node` user; fsGroup makes the 0440 secret files readable by it. */
export const appUid = 1000;

/**
 * The app env on Kubernetes: topology-derived, with the pod name as AIDIARY_APP_NAME (so
 * X-Served-By names the pod) and secrets as file paths. The migration Job passes `primaryOnly`:
 * it writes and needs one connection, so its env (and name) does not follow the replica counts.
 */
export function appEnvVars(t: Topology, opts: { primaryOnly?: boolean; cdn?: CdnStackSettings } = {}): k8s.types.input.core.v1.EnvVar[] {
  const addresses = kubernetesServiceAddresses(t);
  const env = opts.primaryOnly
    ? { ...appEnvironment(t, appInstances(t)[0], { ...addresses, dbReadService: undefined }, appSecretFiles), AIDIARY_DB_POOL_SIZE: String(MIGRATION_POOL_SIZE) }
    : { ...appEnvironment(t, appInstances(t)[0], addresses, appSecretFiles), ...(opts.cdn ? cdnAppEnv(opts.cdn, cdnSecretFiles) : {}) };
  return Object.entries(env).map(([name, value]) =>
    name === 'AIDIARY_APP_NAME' ? { name, valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } } : { name, value });
}

/** One projected volume holding the secret files, from the two app Secrets (plus the CDN's keys of the app Secret, for the apps). */
export function appSecretVolume(dbSecretName: pulumi.Input<string>, appSecretName: pulumi.Input<string>, extraAppKeys: string[] = []): k8s.types.input.core.v1.Volume {
  return {
    name: 'secrets',
    projected: {
      defaultMode: 0o440,
      sources: [
        { secret: { name: dbSecretName, items: [{ key: 'password', path: 'db-password' }] } },
        {
          secret: {
            name: appSecretName,
            items: ['session-secret', 'admin-password', 'redis-sessions-password', 'redis-cache-password', ...extraAppKeys].map((key) => ({ key, path: key })),
          },
        },
      ],
    },
  };
}

export const appSecretMount: k8s.types.input.core.v1.VolumeMount = { name: 'secrets', mountPath: secretDir, readOnly: true };

export const appPodSecurityContext: k8s.types.input.core.v1.PodSecurityContext = {
  runAsNonRoot: true,
  runAsUser: appUid,
  runAsGroup: appUid,
  fsGroup: appUid,
  seccompProfile: { type: 'RuntimeDefault' },
};

export const appContainerSecurityContext: k8s.types.input.core.v1.SecurityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

export const appResources: k8s.types.input.core.v1.ResourceRequirements = {
  requests: { cpu: '250m', memory: '256Mi' },
  limits: { cpu: '1', memory: '512Mi' },
};

/** The root filesystem is read-only; Node and libraries get a writable /tmp. */
export const appTmpVolume: k8s.types.input.core.v1.Volume = { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } };
export const appTmpMount: k8s.types.input.core.v1.VolumeMount = { name: 'tmp', mountPath: '/tmp' };
