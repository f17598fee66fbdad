import * as pulumi from '@pulumi/pulumi';
import * as docker from '@pulumi/docker';
import type { Topology } from '../topology';
import { edgeCommand, edgeConfigFile, edgeHealthCommand, edgeUser, renderEdgeConfig } from '../edge-nginx';
import { containerLabels } from './container-labels';
import { appAlias, dockerResolver } from './service-addresses';

export interface LoadBalancerArgs {
  /** Must exist before this tier's containers start (passed to each child). */
  dependsOn?: pulumi.Resource[];
  topology: Topology;
  networkName: pulumi.Input<string>;
  edgeImage: pulumi.Input<string>;
  /** Host port published for clients. */
  hostPort: number;
}

/** The staging nginx config: resolves the shared `app` alias through Docker's DNS. */
export function dockerNginxConfig(t: Topology): string {
  return renderEdgeConfig(t, { host: appAlias, port: t.ports.appBase, resolver: dockerResolver });
}

/**
 * nginx (edge image: nginx >= 1.27.3 plus the static files). Its config does not depend on the
 * app count, so scaling the apps leaves this container alone.
 */
export class LoadBalancer extends pulumi.ComponentResource {
  readonly containerName: pulumi.Output<string>;
  /** The container's id: what a container sharing its network namespace names. */
  readonly containerId: pulumi.Output<string>;
  readonly url: string;
  readonly nginxConfig: string;

  constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
    super('aidiary:docker:LoadBalancer', name, {}, opts);
    const t = args.topology;
    this.nginxConfig = dockerNginxConfig(t);
    const container = new docker.Container(`${name}-nginx`, {
      name: `${t.name}-nginx`,
      image: args.edgeImage,
      hostname: 'nginx',
      user: String(edgeUser),
      command: edgeCommand,
      uploads: [{ file: edgeConfigFile, content: this.nginxConfig }],
      ports: [{ internal: t.ports.lb, external: args.hostPort }],
      networksAdvanced: [{ name: args.networkName, aliases: ['nginx'] }],
      labels: containerLabels(t.name, 'lb', 'nginx'),
      healthcheck: { tests: ['CMD', ...edgeHealthCommand(t)], interval: '2s', timeout: '2s', retries: 3, startPeriod: '5s' },
      restart: 'unless-stopped',
      wait: true,
      waitTimeout: 60,
    }, { parent: this, dependsOn: args.dependsOn, deleteBeforeReplace: true /* fixed name and host port */ });
    this.containerName = container.name;
    this.containerId = container.id;
    this.url = `http://127.0.0.1:${args.hostPort}`;
    this.registerOutputs({ containerName: this.containerName, url: this.url });
  }
}
