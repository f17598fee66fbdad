import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import type { RedisRole } from './topology';
import { redisRolePasswords, renderRedisAclFile, type RedisSecretValues } from './redis-settings';

/** The Redis users' passwords as Outputs (secrets). */
export type RedisPasswordOutputs = { [K in keyof RedisSecretValues]: pulumi.Output<string> };

/** A role's ACL file made from the password Outputs: a secret Output too (hashes of secrets). */
export function redisAclFileContent(role: RedisRole, p: RedisPasswordOutputs): pulumi.Output<string> {
  return pulumi.secret(pulumi.all([p.sessions, p.cache, p.exporter, p.healthcheck])
    .apply(([sessions, cache, exporter, healthcheck]) => renderRedisAclFile(redisRolePasswords(role, { sessions, cache, exporter, healthcheck }))));
}

export interface StackSecretsArgs {
  /** Operator-chosen admin password; a random one is generated when absent. */
  adminPassword?: pulumi.Output<string>;
  /** Docker runs its own PostgreSQL: it needs superuser and replication passwords too. */
  withServerPasswords: boolean;
}

/**
 * Every generated secret of a stack. Values are Pulumi secrets (RandomPassword.result is marked
 * secret), so they are encrypted in state and only ever reach containers as files or Secrets.
 * No special characters: the values go into pgpass files and connection strings unescaped.
 */
export class StackSecrets extends pulumi.ComponentResource {
  readonly dbPassword: pulumi.Output<string>;
  readonly sessionSecret: pulumi.Output<string>;
  readonly adminPassword: pulumi.Output<string>;
  readonly superuserPassword?: pulumi.Output<string>;
  readonly replicationPassword?: pulumi.Output<string>;
  /** The Redis ACL users' passwords (infra/redis-settings.ts): the app's per role, the exporter's, the probes'. */
  readonly redis: RedisPasswordOutputs;

  constructor(name: string, args: StackSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('aidiary:secrets:StackSecrets', name, {}, opts);
    const password = (id: string, length: number) =>
      pulumi.secret(new random.RandomPassword(`${name}-${id}`, { length, special: false }, { parent: this }).result);

    this.dbPassword = password('db-password', 32);
    this.sessionSecret = password('session-secret', 64);
    this.adminPassword = args.adminPassword ? pulumi.secret(args.adminPassword) : password('admin-password', 24);
    this.redis = {
      sessions: password('redis-sessions-password', 32),
      cache: password('redis-cache-password', 32),
      exporter: password('redis-exporter-password', 32),
      healthcheck: password('redis-healthcheck-password', 32),
    };
    if (args.withServerPasswords) {
      this.superuserPassword = password('superuser-password', 32);
      this.replicationPassword = password('replication-password', 32);
    }
    this.registerOutputs({
      dbPassword: this.dbPassword,
      sessionSecret: this.sessionSecret,
      adminPassword: this.adminPassword,
    });
  }
}
