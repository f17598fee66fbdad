import * as pulumi from '@pulumi/pulumi';
import * as docker from '@pulumi/docker';
import type { Topology } from '../topology';
import { appContainerEnv, appSecretUploads, appUser, envList, type AppSecretValues } from './app-env';
import { containerLabels } from './container-labels';
import { requireExitZero } from './one-shot-gate';

export interface MigrationsArgs {
  /** Must exist before this tier's containers start (passed to each child). */
  dependsOn?: pulumi.Resource[];
  topology: Topology;
  networkName: pulumi.Input<string>;
  appImage: pulumi.Input<string>;
  secrets: AppSecretValues;
  /** Resolves only once the durability mode is applied (see Database.syncConfigApplied). */
  after: pulumi.Input<string>;
}

export const migrateCommand = ['node', 'dist/cli.mjs', 'migrate'];

/**
 * One-shot `aidiary migrate` run before the app containers. Its image input is the build's
 * digest, so every new release replaces it and thereby runs the migrations again; Pulumi waits
 * for it to exit (attach) before it creates the apps that depend on it. Migrations stay
 * compatible with the previous release (expand, then contract): old apps keep serving meanwhile.
 */
export class Migrations extends pulumi.ComponentResource {
  readonly container: docker.Container;
  /**
   * The run's container name, available only once it exited 0. With `mustRun: false` the
   * provider records a failed exit code instead of failing, so this check is what stops the
   * apps of a release whose migrations failed: they take it as a label input.
   */
  readonly succeeded: pulumi.Output<string>;

  constructor(name: string, args: MigrationsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('aidiary:docker:Migrations', name, {}, opts);
    const t = args.topology;
    const env = appContainerEnv(t, { name: 'migrate', index: 0, port: t.ports.appBase }, { primaryOnly: true });
    this.container = new docker.Container(`${name}-run`, {
      image: args.appImage,
      command: migrateCommand,
      user: appUser,
      envs: envList(env),
      uploads: appSecretUploads(args.secrets),
      networksAdvanced: [{ name: args.networkName }],
      labels: [...containerLabels(t.name, 'migrate', 'migrate'), { label: 'aidiary.after', value: args.after }],
      mustRun: false,
      restart: 'no',
      attach: true,
      logs: true,
    }, { parent: this, dependsOn: args.dependsOn });
    this.succeeded = pulumi.all([this.container.name, this.container.exitCode, this.container.urn])
      .apply(([n, code, urn]) => requireExitZero('migrations', n, code, urn));
    this.registerOutputs({ containerName: this.container.name, succeeded: this.succeeded });
  }
}
