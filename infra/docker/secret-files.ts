import * as pulumi from '@pulumi/pulumi';
import type * as docker from '@pulumi/docker';

/** Where the app (and the migration run) read their secrets: AIDIARY_*_FILE point here. */
export const appSecretFiles = {
  dbPasswordFile: '/run/aidiary/secrets/db-password',
  sessionSecretFile: '/run/aidiary/secrets/session-secret',
  adminPasswordFile: '/run/aidiary/secrets/admin-password',
  redisSessionsPasswordFile: '/run/aidiary/secrets/redis-sessions-password',
  redisCachePasswordFile: '/run/aidiary/secrets/redis-cache-password',
} as const;

/** The CDN purge credentials (cdnProvider), in the same directory. */
export const cdnSecretFiles = {
  apiTokenFile: '/run/aidiary/secrets/cdn-api-token',
  awsSecretAccessKeyFile: '/run/aidiary/secrets/cdn-aws-secret-access-key',
} as const;

/**
 * A secret as a file uploaded into the container before it starts: the value stays a Pulumi
 * secret (encrypted in state) and never appears in `docker inspect` env or a command line.
 * Uploads are root-owned, so 0440 plus running the app with group 0 keeps them readable by the
 * app and by no other non-root user.
 */
export function secretUpload(file: string, value: pulumi.Input<string>, permissions = '0440'): docker.types.input.ContainerUpload {
  return { file, content: pulumi.secret(value), permissions };
}
