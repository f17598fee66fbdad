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
export const secretConfigKeys = ['adminPassword', 'backupAccessKeyId', 'backupSecretAccessKey', 'tlsPrivateKey'] as const;

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
  const topology = parseTopology({
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
  const common: CommonSettings = { stack, topology, monitoring, adminPassword: cfg.getSecret('adminPassword') };

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
    network: networkSettings(cfg, endpointUrl),
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
function networkSettings(cfg: pulumi.Config, backupEndpointUrl: string): NetworkSettings {
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
  };
}
