import { readFileSync } from 'node:fs';
import { parseTopology } from '../topology';
import type { ClusterDriver, CommandExecutor } from './cluster-driver';
import type { Scenario } from './drill-report';
import { DockerDriver } from './docker-driver';
import { KubernetesDriver } from './kubernetes-driver';
import { LocalDriver } from './local-driver';

// Which cluster `aidiary drill --target` acts on, and the options each target takes. The local
// cluster is found through its state dir; the Docker staging stack by its containers' labels
// (docker CLI on this host) and its Pulumi stack (scaling, the recorded primary); the Kubernetes
// prod stack through kubectl (--context, --namespace). A combination that cannot work is refused
// before anything runs, naming the fix (exit 2).

export const drillTargets = ['local', 'docker', 'kubernetes'] as const;
export type DrillTarget = typeof drillTargets[number];

export interface DrillTargetOptions {
  target: DrillTarget;
  /** local: the state dir (resolved by the CLI). */
  stateDir?: string;
  /** docker/kubernetes: the public URL of the stack's nginx. */
  url?: string;
  /** docker/kubernetes: the Pulumi stack name (default staging / prod). */
  stack?: string;
  /** kubernetes: kubectl context and namespace. */
  context?: string;
  namespace?: string;
  /** docker/kubernetes: a file holding the admin password (never the password on the command line). */
  adminPasswordFile?: string;
}

/** A command line that cannot work: the CLI exits 2 with this message. */
export class DrillTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DrillTargetError';
  }
}

export const defaultPulumiStack: Record<Exclude<DrillTarget, 'local'>, string> = { docker: 'staging', kubernetes: 'prod' };
/** The staging stack publishes nginx on lbPort (8080 unless configured). */
const defaultDockerUrl = 'http://127.0.0.1:8080';
const defaultNamespace = 'aidiary';

/** The topology name infra/stack-config.ts gives a Pulumi stack (container labels, Kubernetes object names). */
export function stackTopologyName(stack: string): string {
  return `aidiary-${stack}`.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 40);
}

/** Scenarios a target cannot run, with the reason shown to the operator. */
export function unsupportedScenario(target: DrillTarget, scenario: Scenario): string | null {
  if (scenario === 'restore' && target !== 'local') return 'the restore drill runs on the local cluster only (aidiary backup/restore); on Kubernetes restores go through CloudNativePG\'s recovery bootstrap';
  if (scenario === 'partition-primary' && target === 'kubernetes') return 'partition-primary cannot freeze a pod through kubectl; isolate the primary pod with a deny-all NetworkPolicy by hand instead';
  return null;
}

/** Refuses options that do not belong to the target; returns the checked options. */
export function checkTargetOptions(opts: DrillTargetOptions, scenarios: Scenario[]): DrillTargetOptions {
  const given = (keys: (keyof DrillTargetOptions)[]) => keys.filter((k) => opts[k] !== undefined).map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  if (opts.target === 'local') {
    const extra = given(['url', 'stack', 'context', 'namespace', 'adminPasswordFile']);
    if (extra.length) throw new DrillTargetError(`${extra.join(', ')}: only with --target docker or kubernetes; the local cluster is found through --state-dir`);
  } else {
    if (opts.stateDir !== undefined) throw new DrillTargetError(`--state-dir: only with --target local; --target ${opts.target} finds the cluster through ${opts.target === 'docker' ? 'docker and --stack' : 'kubectl (--context, --namespace)'}`);
    if (opts.target === 'docker') {
      const extra = given(['context', 'namespace']);
      if (extra.length) throw new DrillTargetError(`${extra.join(', ')}: only with --target kubernetes`);
    }
    if (opts.target === 'kubernetes' && !opts.url) throw new DrillTargetError('--target kubernetes needs --url: the site\'s public URL (the stack\'s siteUrl)');
    if (opts.url !== undefined && !/^https?:\/\/[^/\s]+/.test(opts.url)) throw new DrillTargetError(`--url ${opts.url}: give an http(s) URL such as ${defaultDockerUrl}`);
    if (!opts.adminPasswordFile) {
      throw new DrillTargetError(`--target ${opts.target} needs --admin-password-file FILE (the load logs in as admin), e.g. \`pulumi stack output initialAdminPassword --show-secrets --stack ${opts.stack ?? defaultPulumiStack[opts.target]} > FILE\``);
    }
  }
  for (const s of scenarios) {
    const why = unsupportedScenario(opts.target, s);
    if (why) throw new DrillTargetError(`${s} on --target ${opts.target}: ${why}`);
  }
  return opts;
}

function readPassword(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new DrillTargetError(`--admin-password-file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const password = text.trim();
  if (!password) throw new DrillTargetError(`--admin-password-file ${file} is empty; write the admin password into it`);
  return password;
}

/** The driver for checked options (`exec` replaces the docker/kubectl/pulumi runner in tests). */
export function driverFor(opts: DrillTargetOptions, log: (message: string) => void, exec?: CommandExecutor): ClusterDriver {
  if (opts.target === 'local') return new LocalDriver({ stateDir: opts.stateDir!, log });
  const admin = { username: 'admin', password: readPassword(opts.adminPasswordFile!) };
  const stack = opts.stack ?? defaultPulumiStack[opts.target];
  const name = stackTopologyName(stack);
  if (opts.target === 'docker') {
    return new DockerDriver({ stack: name, pulumiStack: stack, lbUrl: opts.url ?? defaultDockerUrl, database: parseTopology({ target: 'docker' }).database.name, admin, exec, log });
  }
  return new KubernetesDriver({
    topology: parseTopology({ target: 'kubernetes', name }), namespace: opts.namespace ?? defaultNamespace, context: opts.context, lbUrl: opts.url!, admin, exec,
  });
}
