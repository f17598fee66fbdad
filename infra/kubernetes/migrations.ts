import * as pulumi from '@pulumi/pulumi';
import * as k8s from '@pulumi/kubernetes';
import type { Topology } from '../topology';
import { contentHash } from '../content-hash';
import {
  appContainerSecurityContext, appEnvVars, appPodSecurityContext, appResources, appSecretMount, appSecretVolume, appTmpMount, appTmpVolume,
} from './app-pod';
import { tierLabels } from './labels';

export const migrateCommand = ['node', 'dist/cli.mjs', 'migrate'];

export interface MigrationsArgs {
  topology: Topology;
  namespace: pulumi.Input<string>;
  appImage: string;
  dbSecretName: pulumi.Input<string>;
  appSecretName: pulumi.Input<string>;
  dependsOn?: pulumi.Resource[];
}

/** The Job name carries a hash of the image and env, so each release runs its migrations once. */
export function migrationJobName(t: Topology, appImage: string): string {
  return `${t.name}-migrate-${contentHash(appImage, JSON.stringify(appEnvVars(t, { primaryOnly: true })))}`;
}

/**
 * `aidiary migrate` as a Job that Pulumi awaits to completion; the app Deployment depends on it,
 * so pods of a new release roll only after its migrations ran. Migrations stay compatible with
 * the previous release (expand, then contract), so old pods keep serving during the run.
 */
export class Migrations extends pulumi.ComponentResource {
  readonly job: k8s.batch.v1.Job;

  constructor(name: string, args: MigrationsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('aidiary:kubernetes:Migrations', name, {}, opts);
    const t = args.topology;
    const labels = tierLabels(t, 'migrate');
    this.job = new k8s.batch.v1.Job(`${name}-job`, {
      metadata: {
        name: migrationJobName(t, args.appImage),
        namespace: args.namespace,
        labels,
        // A Job that failed (database down, a bad migration fixed since) is replaced and so run
        // again by the next `pulumi up`, instead of Pulumi waiting on the failed one forever.
        annotations: { 'pulumi.com/replaceUnready': 'true' },
      },
      spec: {
        backoffLimit: 3,
        activeDeadlineSeconds: 900,
        template: {
          metadata: { labels },
          spec: {
            restartPolicy: 'Never',
            securityContext: appPodSecurityContext,
            containers: [{
              name: 'migrate',
              image: args.appImage,
              command: migrateCommand,
              env: appEnvVars(t, { primaryOnly: true }),
              resources: appResources,
              securityContext: appContainerSecurityContext,
              volumeMounts: [appSecretMount, appTmpMount],
            }],
            volumes: [appSecretVolume(args.dbSecretName, args.appSecretName), appTmpVolume],
          },
        },
      },
    }, { parent: this, dependsOn: args.dependsOn });
    this.registerOutputs({ jobName: this.job.metadata.name });
  }
}
