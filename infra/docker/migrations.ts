import * as pulumi from '@pulumi/pulumi';
import * as docker from '@pulumi/docker';
import type { Topology } from '../topology';
import { appContainerEnv, appSecretUploads, appUser, envList, type AppSecretValues } from './app-env';
import { containerLabels } from './container-labels';

export interface MigrationsArgs {
  /** Must exist before this tier's containers start (passed to each child). */
  dependsOn?: pulumi.Resource[];
  topology: Topology;
  networkName: pulumi.Input<string>;
  appImage: pulumi.Input<string>;
  secrets: AppSecretValues;
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
      labels: containerLabels(t.name, 'migrate', 'migrate'),
      mustRun: false,
      restart: 'no',
      attach: true,
      logs: true,
    }, { parent: this, dependsOn: args.dependsOn });
    this.registerOutputs({ containerName: this.container.name });
  }
}
