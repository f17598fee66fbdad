import * as pulumi from '@pulumi/pulumi';
import * as docker from '@pulumi/docker';
import { redisInstances, type Topology } from '../topology';
import { redisAclFileContent, type RedisPasswordOutputs } from '../stack-secrets';
import { containerLabels } from './container-labels';
import { redisImage } from './images';
import { redisAclFile, redisHealthcheckPasswordFile, redisHealthcheckShell, redisMemoryLimitMib, redisServerArgs } from '../redis-settings';
import { secretUpload } from './secret-files';


export interface RedisTierArgs {
  topology: Topology;
  networkName: pulumi.Input<string>;
  /** The Redis users' passwords (StackSecrets.redis): each role's ACL file is made from them. */
  passwords: RedisPasswordOutputs;
}

/**
 * The two Redis roles of the topology: `redis-sessions` (AOF, named volume) and `redis-cache`,
 * each under a memory limit with maxmemory below it, each requiring a login: its ACL file (password
 * hashes only) is uploaded before the server starts, world-readable because the image's entrypoint
 * drops from root to the `redis` user, which does not own uploads. The healthcheck user's
 * password (PING only) is uploaded 0440 for the healthcheck, which runs as root.
 */
export class RedisTier extends pulumi.ComponentResource {
  readonly containerNames: pulumi.Output<string>[];

  constructor(name: string, args: RedisTierArgs, opts?: pulumi.ComponentResourceOptions) {
    super('aidiary:docker:RedisTier', name, {}, opts);
    const t = args.topology;
    const containers = redisInstances(t).map((r) => {
      const volume = r.role === 'sessions'
        ? new docker.Volume(`${name}-${r.name}-data`, {
            name: `${t.name}-${r.name}-data`,
            labels: [{ label: 'aidiary.stack', value: t.name }],
          }, { parent: this })
        : undefined;
      return new docker.Container(`${name}-${r.name}`, {
        name: `${t.name}-${r.name}`,
        image: redisImage,
        hostname: r.name,
        command: ['redis-server', ...redisServerArgs(r)],
        uploads: [
          secretUpload(redisAclFile, redisAclFileContent(r.role, args.passwords), '0444'),
          secretUpload(redisHealthcheckPasswordFile, args.passwords.healthcheck),
        ],
        // MiB; maxmemory is a share of it (infra/redis-settings.ts): Redis refuses writes first.
        memory: redisMemoryLimitMib[r.role],
        volumes: volume ? [{ volumeName: volume.name, containerPath: '/data' }] : [],
        networksAdvanced: [{ name: args.networkName, aliases: [r.name] }],
        labels: containerLabels(t.name, `redis-${r.role}`, r.name),
        healthcheck: {
          tests: ['CMD-SHELL', redisHealthcheckShell(r.port)],
          interval: '2s', timeout: '2s', retries: 5, startPeriod: '10s',
        },
        restart: 'unless-stopped',
        wait: true,
        waitTimeout: 120,
      }, { parent: this, deleteBeforeReplace: true });
    });
    this.containerNames = containers.map((c) => c.name);
    this.registerOutputs({ containerNames: this.containerNames });
  }
}
