import * as pulumi from '@pulumi/pulumi';
import type { NetworkSettings } from './kubernetes/network-flows';
import { drainBehindResolverMs } from './edge-nginx';
import { defaultTopology, isCidr, parseTopology, type DurabilitySetting, type Topology } from './topology';

// The only file that reads pulumi.Config. Everything downstream takes the typed settings, so the
// components never see raw config and the topology stays the single source of replica counts.

/** Every non-secret key with its default; Pulumi.yaml documents the same table (a test compares). */
export const configDefaults = {
  appReplicas: 3,
  dbReplicas: 2,
  durability: 'auto',
  maxAppReplicas: defaultTopology.database.maxAppReplicas,
  lbPort: 8080,
  namespace: 'aidiary',
  appImage: '',
  edgeImage: '',
  storageClass: '',
  dbStorageSize: '10Gi',
  redisStorageSize: '1Gi',
  backupDestination: '',
  backupEndpointUrl: '',
  backupRetention: '30d',
  backupSchedule: '0 0 3 * * *',
  backupServerName: '',
  tlsSecretName: '',
  tlsCertificate: '',
  lbServiceType: 'LoadBalancer',
  siteUrl: '',
  trustedProxies: '',
  kubernetesApiCidr: '',
  backupEgressCidr: '0.0.0.0/0',
  metricsNamespace: 'monitoring',
  cnpgNamespace: 'cnpg-system',
  monitoring: 'none',
  prometheusPort: 9090,
  primaryIndex: 0,
  cdnProvider: 'none',
  cdnCloudflareZoneId: '',
  cdnCloudflarePurgeBy: 'tags',
  cdnFastlyServiceId: '',
  cdnCloudfrontDistributionId: '',
  cdnAwsAccessKeyId: '',
  cdnVarnishUrl: '',
  cdnEgressCidr: '0.0.0.0/0',
} as const;

/**
 * `monitoring` per target: the Prometheus Operator's resources on Kubernetes
 * (infra/kubernetes/monitoring.ts); Prometheus and the exporters as containers on Docker
 * (infra/docker/monitoring.ts).
 */
export const monitoringModes = { docker: ['none', 'prometheus'], kubernetes: ['none', 'prometheus-operator'] } as const;

/** How clients reach nginx on Kubernetes (see Pulumi.yaml). */
export const lbServiceTypes = ['LoadBalancer', 'NodePort', 'ClusterIP'] as const;
export type LbServiceType = typeof lbServiceTypes[number];

/** Secret keys (`pulumi config set --secret`): never defaulted, never read as plain text. */
export const secretConfigKeys = ['adminPassword', 'backupAccessKeyId', 'backupSecretAccessKey', 'tlsPrivateKey', 'cdnApiToken', 'cdnAwsSecretAccessKey'] as const;

/**
 * The CDN in front of the edge whose cache the apps purge after every write (app/cdn/, the
 * `cdn-purge` job queue). Secrets stay Outputs and reach the apps as files only.
 */
export type CdnStackSettings =
  | { provider: 'none' }
  | { provider: 'cloudflare'; zoneId: string; purgeBy: 'tags' | 'urls'; apiToken: pulumi.Output<string> }
  | { provider: 'fastly'; serviceId: string; apiToken: pulumi.Output<string> }
  | { provider: 'cloudfront'; distributionId: string; accessKeyId: string; secretAccessKey: pulumi.Output<string> }
  | { provider: 'varnish'; url: string };

export const cdnStackProviders = ['none', 'cloudflare', 'fastly', 'cloudfront', 'varnish'] as const;

/** Where the app reads the CDN secrets (AIDIARY_CDN_*_FILE), per target. */
export interface CdnSecretFiles { apiTokenFile: string; awsSecretAccessKeyFile: string }

/** The app environment of a CDN selection (app/cdn/adapter-config.ts reads it); secrets by file path. */
export function cdnAppEnv(cdn: CdnStackSettings, files: CdnSecretFiles): Record<string, string> {
  switch (cdn.provider) {
    case 'none': return {};
    case 'cloudflare': return {
      AIDIARY_CDN_PROVIDER: 'cloudflare', AIDIARY_CDN_CLOUDFLARE_ZONE_ID: cdn.zoneId, AIDIARY_CDN_CLOUDFLARE_PURGE_BY: cdn.purgeBy,
      AIDIARY_CDN_CLOUDFLARE_API_TOKEN_FILE: files.apiTokenFile,
    };
    case 'fastly': return { AIDIARY_CDN_PROVIDER: 'fastly', AIDIARY_CDN_FASTLY_SERVICE_ID: cdn.serviceId, AIDIARY_CDN_FASTLY_API_TOKEN_FILE: files.apiTokenFile };
    case 'cloudfront': return {
      AIDIARY_CDN_PROVIDER: 'cloudfront', AIDIARY_CDN_CLOUDFRONT_DISTRIBUTION_ID: cdn.distributionId, AIDIARY_CDN_AWS_ACCESS_KEY_ID: cdn.accessKeyId,
      AIDIARY_CDN_AWS_SECRET_ACCESS_KEY_FILE: files.awsSecretAccessKeyFile,
    };
    case 'varnish': return { AIDIARY_CDN_PROVIDER: 'varnish', AIDIARY_CDN_VARNISH_URL: cdn.url };
  }
}

/** The CDN secrets as named files' contents: `api-token` (Cloudflare, Fastly) or `aws-secret-access-key` (CloudFront). */
export function cdnSecretValues(cdn: CdnStackSettings): { apiToken?: pulumi.Output<string>; awsSecretAccessKey?: pulumi.Output<string> } {
  if (cdn.provider === 'cloudflare' || cdn.provider === 'fastly') return { apiToken: cdn.apiToken };
  if (cdn.provider === 'cloudfront') return { awsSecretAccessKey: cdn.secretAccessKey };
  return {};
}

/** Host and port the apps reach to purge (the NetworkPolicies' egress), or null without a CDN. */
export function cdnApiEndpoint(cdn: CdnStackSettings): { port: number } | null {
  if (cdn.provider === 'none') return null;
  if (cdn.provider === 'varnish') {
    const url = new URL(cdn.url);
    return { port: url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80 };
  }
  return { port: 443 };
}

function cdnValue(cfg: pulumi.Config, key: keyof typeof configDefaults, provider: string, pattern: RegExp, example: string): string {
  const value = cfg.get(key) ?? String(configDefaults[key]);
  if (!value) throw new StackConfigError(`${key}: required with cdnProvider ${provider}; run \`pulumi config set ${key} ${example}\``);
  if (!pattern.test(value)) throw new StackConfigError(`${key}: "${value}" is not valid; expected something like ${example}`);
  return value;
}

function cdnSecret(cfg: pulumi.Config, key: (typeof secretConfigKeys)[number], provider: string): pulumi.Output<string> {
  const value = cfg.getSecret(key);
  if (!value) throw new StackConfigError(`${key}: required with cdnProvider ${provider}; run \`pulumi config set --secret ${key} <value>\``);
  return value;
}

function readCdnSettings(cfg: pulumi.Config): CdnStackSettings {
  const provider = cfg.get('cdnProvider') ?? configDefaults.cdnProvider;
  switch (provider) {
    case 'none': return { provider };
    case 'cloudflare': {
      const purgeBy = cfg.get('cdnCloudflarePurgeBy') ?? configDefaults.cdnCloudflarePurgeBy;
      if (purgeBy !== 'tags' && purgeBy !== 'urls') throw new StackConfigError(`cdnCloudflarePurgeBy: expected tags or urls, got "${purgeBy}"`);
      return {
        provider, purgeBy,
        zoneId: cdnValue(cfg, 'cdnCloudflareZoneId', provider, /^[0-9a-f]{32}$/, '023e105f4ecef8ad9ca31a8372d0c353'),
        apiToken: cdnSecret(cfg, 'cdnApiToken', provider),
      };
    }
    case 'fastly':
      return { provider, serviceId: cdnValue(cfg, 'cdnFastlyServiceId', provider, /^[A-Za-z0-9]{8,64}$/, 'SU1Z0isxPaozGVKXdv0eY'), apiToken: cdnSecret(cfg, 'cdnApiToken', provider) };
    case 'cloudfront':
      return {
        provider,
        distributionId: cdnValue(cfg, 'cdnCloudfrontDistributionId', provider, /^[A-Z0-9]{8,32}$/, 'EDFDVBD6EXAMPLE'),
        accessKeyId: cdnValue(cfg, 'cdnAwsAccessKeyId', provider, /^[A-Z0-9]{16,128}$/, 'AKIAIOSFODNN7EXAMPLE'),
        secretAccessKey: cdnSecret(cfg, 'cdnAwsSecretAccessKey', provider),
      };
    case 'varnish':
      return { provider, url: cdnValue(cfg, 'cdnVarnishUrl', provider, /^https?:\/\/[^\s/]+\/?$/, 'http://varnish.example:6081') };
    default:
      throw new StackConfigError(`cdnProvider: expected one of ${cdnStackProviders.join(', ')}, got "${provider}"; run \`pulumi config set cdnProvider none\``);
  }
}

export class StackConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StackConfigError';
  }
}

interface CommonSettings {
  stack: string;
  /** Scraping and alerting resources to declare (monitoringModes). */
  monitoring: string;
  topology: Topology;
  /** Operator-chosen admin password (secret); generated when absent. */
  adminPassword?: pulumi.Output<string>;
  /** The CDN whose cache the apps purge (none by default). */
  cdn: CdnStackSettings;
}

export interface DockerSettings extends CommonSettings {
  target: 'docker';
  /** Host port nginx publishes. */
  lbPort: number;
  /** Host port (on 127.0.0.1) Prometheus publishes when monitoring is `prometheus`. */
  prometheusPort: number;
  /** Repository root: the Docker build context. */
  buildContext: string;
  /** The PostgreSQL node (pg-K) the stack runs as the primary; a failover moves it (README, Failover drills). */
  primaryIndex: number;
}

export type TlsSettings =
  | { kind: 'existing'; secretName: string }
  | { kind: 'provided'; certificate: string; privateKey: pulumi.Output<string> };

export interface KubernetesSettings extends CommonSettings {
  target: 'kubernetes';
  namespace: string;
  appImage: string;
  edgeImage: string;
  storageClass?: string;
  dbStorageSize: string;
  redisStorageSize: string;
  /** What the NetworkPolicies allow beyond the namespace (infra/kubernetes/network-flows.ts). */
  network: NetworkSettings;
  backup: {
    destinationPath: string;
    endpointUrl?: string;
    accessKeyId: pulumi.Output<string>;
    secretAccessKey: pulumi.Output<string>;
    retention: string;
    schedule: string;
    serverName?: string;
  };
  tls: TlsSettings;
  lbServiceType: LbServiceType;
}

export type StackSettings = DockerSettings | KubernetesSettings;

function nonEmpty(cfg: pulumi.Config, key: keyof typeof configDefaults, target: string): string {
  const value = cfg.get(key) ?? String(configDefaults[key]);
  if (!value) throw new StackConfigError(`${key}: required on target ${target}; run \`pulumi config set ${key} <value>\``);
  return value;
}

/** Reads and validates the stack's config; a bad key fails the run before any resource exists. */
export function readStackSettings(buildContext: string): StackSettings {
  const cfg = new pulumi.Config();
  const stack = pulumi.getStack();
  const target = cfg.require('target');
  if (target !== 'docker' && target !== 'kubernetes') {
    throw new StackConfigError(`target: expected "docker" or "kubernetes", got "${target}"; set it in Pulumi.${stack}.yaml`);
  }
  const siteUrl = cfg.get('siteUrl') ?? configDefaults.siteUrl;
  if (target === 'kubernetes' && !siteUrl) {
    throw new StackConfigError('siteUrl: required on target kubernetes (feeds, sitemap and the accepted Host come from it); run `pulumi config set siteUrl https://<your host>`');
  }
  // Docker publishes nginx on the host's lbPort: the derived origin is that port on localhost.
  const lbPort = cfg.getNumber('lbPort') ?? configDefaults.lbPort;
  const origin = siteUrl || (target === 'docker' ? `http://localhost:${lbPort}` : '');
  const trustedProxies = (cfg.get('trustedProxies') ?? configDefaults.trustedProxies).split(',').map((c) => c.trim()).filter(Boolean);
  const cdn = readCdnSettings(cfg);
  const topology = parseTopology({
    // A CDN in front: nginx passes the purge tags and CDN TTL headers on instead of stripping them.
    cdn: cdn.provider,
    siteUrl: origin,
    trustedProxies,
    name: `aidiary-${stack}`.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40),
    target,
    host: '0.0.0.0',
    appReplicas: cfg.getNumber('appReplicas') ?? configDefaults.appReplicas,
    dbReplicas: cfg.getNumber('dbReplicas') ?? configDefaults.dbReplicas,
    durability: (cfg.get('durability') ?? configDefaults.durability) as DurabilitySetting,
    database: { maxAppReplicas: cfg.getNumber('maxAppReplicas') ?? configDefaults.maxAppReplicas },
    // Docker has no pre-stop hook: a leaving app keeps serving until the edge's resolver has
    // forgotten it (Kubernetes spends that time in preStop and keeps the short drain).
    ...(target === 'docker' ? { drainMs: drainBehindResolverMs } : {}),
  });
  const monitoring = cfg.get('monitoring') ?? configDefaults.monitoring;
  const modes: readonly string[] = monitoringModes[target];
  if (!modes.includes(monitoring)) {
    const fix = modes.length > 1 ? `run \`pulumi config set monitoring ${modes[1]}\` (or none)` : 'run `pulumi config rm monitoring` (run `aidiary up --monitoring` for a monitored cluster on this machine)';
    throw new StackConfigError(`monitoring: expected ${modes.join(' or ')} on target ${target}, got "${monitoring}"; ${fix}`);
  }
  const common: CommonSettings = { stack, topology, monitoring, adminPassword: cfg.getSecret('adminPassword'), cdn };

  if (target === 'docker') {
    const prometheusPort = cfg.getNumber('prometheusPort') ?? configDefaults.prometheusPort;
    // Read only with Prometheus on: the default stack does not care about this key.
    if (monitoring === 'prometheus' && (!Number.isInteger(prometheusPort) || prometheusPort < 1 || prometheusPort > 65535 || prometheusPort === lbPort)) {
      throw new StackConfigError(`prometheusPort: expected a free host port (1-65535) other than lbPort ${lbPort}, got ${prometheusPort}; run \`pulumi config set prometheusPort <port>\``);
    }
    const primaryIndex = cfg.getNumber('primaryIndex') ?? configDefaults.primaryIndex;
    if (!Number.isInteger(primaryIndex) || primaryIndex < 0 || primaryIndex > topology.dbReplicas) {
      throw new StackConfigError(`primaryIndex: expected the index K of the primary pg-K, 0-${topology.dbReplicas} (dbReplicas), got ${primaryIndex}; run \`pulumi config set primaryIndex K\` with the node the last failover promoted`);
    }
    return { ...common, target, lbPort, prometheusPort, buildContext, primaryIndex };
  }

  const tlsSecretName = cfg.get('tlsSecretName') ?? configDefaults.tlsSecretName;
  const tls: TlsSettings = tlsSecretName
    ? { kind: 'existing', secretName: tlsSecretName }
    : { kind: 'provided', certificate: nonEmpty(cfg, 'tlsCertificate', target), privateKey: cfg.requireSecret('tlsPrivateKey') };
  const lbServiceType = cfg.get('lbServiceType') ?? configDefaults.lbServiceType;
  if (!(lbServiceTypes as readonly string[]).includes(lbServiceType)) {
    throw new StackConfigError(`lbServiceType: expected ${lbServiceTypes.join(', ')}, got "${lbServiceType}"; run \`pulumi config set lbServiceType LoadBalancer\` (or NodePort, or ClusterIP behind an existing ingress)`);
  }
  const storageClass = cfg.get('storageClass') ?? configDefaults.storageClass;
  const endpointUrl = cfg.get('backupEndpointUrl') ?? configDefaults.backupEndpointUrl;
  const backupServerName = cfg.get('backupServerName') ?? configDefaults.backupServerName;
  return {
    ...common,
    target,
    namespace: cfg.get('namespace') ?? configDefaults.namespace,
    appImage: nonEmpty(cfg, 'appImage', target),
    edgeImage: nonEmpty(cfg, 'edgeImage', target),
    storageClass: storageClass || undefined,
    dbStorageSize: cfg.get('dbStorageSize') ?? configDefaults.dbStorageSize,
    redisStorageSize: cfg.get('redisStorageSize') ?? configDefaults.redisStorageSize,
    backup: {
      destinationPath: nonEmpty(cfg, 'backupDestination', target),
      endpointUrl: endpointUrl || undefined,
      accessKeyId: cfg.requireSecret('backupAccessKeyId'),
      secretAccessKey: cfg.requireSecret('backupSecretAccessKey'),
      retention: cfg.get('backupRetention') ?? configDefaults.backupRetention,
      schedule: cfg.get('backupSchedule') ?? configDefaults.backupSchedule,
      serverName: backupServerName || undefined,
    },
    tls,
    lbServiceType: lbServiceType as LbServiceType,
    network: networkSettings(cfg, endpointUrl, common.cdn),
  };
}

/** A CIDR with its prefix length (NetworkPolicy ipBlock needs one; isCidr also takes a bare address). */
function cidr(key: string, value: string, fix: string): string {
  if (!value.includes('/') || !isCidr(value)) {
    throw new StackConfigError(`${key}: expected a CIDR such as 10.0.0.1/32, got "${value}"; ${fix}`);
  }
  return value;
}

function k8sName(key: string, value: string): string {
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(value)) throw new StackConfigError(`${key}: expected a namespace name, got "${value}"`);
  return value;
}

/** The NetworkPolicies' view of the world outside the namespace. */
function networkSettings(cfg: pulumi.Config, backupEndpointUrl: string, cdn: CdnStackSettings): NetworkSettings {
  const api = cfg.get('kubernetesApiCidr') ?? configDefaults.kubernetesApiCidr;
  const apiFix = 'run `kubectl get endpoints kubernetes -n default` and `pulumi config set kubernetesApiCidr <address>/32` (the PostgreSQL instances reach the API server there)';
  if (!api) throw new StackConfigError(`kubernetesApiCidr: required on target kubernetes; ${apiFix}`);
  let backupPort = 443;
  if (backupEndpointUrl) {
    const url = new URL(backupEndpointUrl);
    backupPort = url.port ? Number(url.port) : url.protocol === 'http:' ? 80 : 443;
  }
  return {
    kubernetesApiCidr: cidr('kubernetesApiCidr', api, apiFix),
    backupEgressCidr: cidr('backupEgressCidr', cfg.get('backupEgressCidr') ?? configDefaults.backupEgressCidr, 'set the object store\'s range, or 0.0.0.0/0 when it has none'),
    backupPort,
    metricsNamespace: k8sName('metricsNamespace', cfg.get('metricsNamespace') ?? configDefaults.metricsNamespace),
    cnpgNamespace: k8sName('cnpgNamespace', cfg.get('cnpgNamespace') ?? configDefaults.cnpgNamespace),
    cdnEgress: cdnApiEndpoint(cdn)
      ? { cidr: cidr('cdnEgressCidr', cfg.get('cdnEgressCidr') ?? configDefaults.cdnEgressCidr, 'set the purge API\'s range, or 0.0.0.0/0 when it has none'), port: cdnApiEndpoint(cdn)!.port }
      : null,
  };
}
