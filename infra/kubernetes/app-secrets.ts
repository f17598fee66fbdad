import * as pulumi from '@pulumi/pulumi';
import * as k8s from '@pulumi/kubernetes';
import type { Topology } from '../topology';
import { kubernetesNames } from './names';
import { cdnSecretData } from './app-pod';
import type { CdnStackSettings } from '../stack-config';

export interface AppSecretsArgs {
  topology: Topology;
  namespace: pulumi.Input<string>;
  dbPassword: pulumi.Output<string>;
  sessionSecret: pulumi.Output<string>;
  adminPassword: pulumi.Output<string>;
  /** The app user's password on each Redis role. */
  redisSessionsPassword: pulumi.Output<string>;
  redisCachePassword: pulumi.Output<string>;
  /** The CDN purge credentials go into the app Secret too (cdnProvider). */
  cdn?: CdnStackSettings;
}

/**
 * The app's Secrets: the database login (basic-auth, the shape CloudNativePG's initdb bootstrap
 * reads to create the owner role) and the session secret, admin password and the app's Redis
 * passwords (one per role). Values come from
 * Pulumi secrets; pods mount them as 0440 files, never as env values.
 */
export class AppSecrets extends pulumi.ComponentResource {
  readonly dbSecretName: pulumi.Output<string>;
  readonly appSecretName: pulumi.Output<string>;

  constructor(name: string, args: AppSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('aidiary:kubernetes:AppSecrets', name, {}, opts);
    const t = args.topology;
    const names = kubernetesNames(t);
    const db = new k8s.core.v1.Secret(`${name}-db`, {
      metadata: { name: names.dbAppSecret, namespace: args.namespace },
      type: 'kubernetes.io/basic-auth',
      stringData: { username: t.database.appUser, password: args.dbPassword },
    }, { parent: this });
    const app = new k8s.core.v1.Secret(`${name}-app`, {
      metadata: { name: names.appSecret, namespace: args.namespace },
      type: 'Opaque',
      stringData: {
        'session-secret': args.sessionSecret,
        'admin-password': args.adminPassword,
        'redis-sessions-password': args.redisSessionsPassword,
        'redis-cache-password': args.redisCachePassword,
        ...cdnSecretData(args.cdn),
      },
    }, { parent: this });
    this.dbSecretName = db.metadata.name;
    this.appSecretName = app.metadata.name;
    this.registerOutputs({ dbSecretName: this.dbSecretName, appSecretName: this.appSecretName });
  }
}
