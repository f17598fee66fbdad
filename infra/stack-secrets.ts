import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';

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

  constructor(name: string, args: StackSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('aidiary:secrets:StackSecrets', name, {}, opts);
    const password = (id: string, length: number) =>
      pulumi.secret(new random.RandomPassword(`${name}-${id}`, { length, special: false }, { parent: this }).result);

    this.dbPassword = password('db-password', 32);
    this.sessionSecret = password('session-secret', 64);
    this.adminPassword = args.adminPassword ? pulumi.secret(args.adminPassword) : password('admin-password', 24);
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
