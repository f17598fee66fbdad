import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { runProgram, type ProgramRun, type RecordedResource } from './pulumi-harness';

// Stack configs as the CLI would pass them, plus helpers shared by the infra suites.

/** Secret config values an operator sets with `pulumi config set --secret`. */
export const prodSecretConfig = {
  backupAccessKeyId: 'AKIATESTACCESSKEY0001',
  backupSecretAccessKey: 'test-secret-access-key-0123456789abcdef',
  tlsPrivateKey: '-----BEGIN PRIVATE KEY-----\nMIItestprivatekeymaterial\n-----END PRIVATE KEY-----',
};

export const counts = [1, 3, 7] as const;

export function runStaging(appReplicas: number, dbReplicas: number, extra: Record<string, string> = {}): Promise<ProgramRun> {
  return runProgram('staging', { target: 'docker', appReplicas: String(appReplicas), dbReplicas: String(dbReplicas), ...extra }, Object.keys(extra).filter((k) => k === 'adminPassword'));
}

export function runProd(appReplicas: number, dbReplicas: number, extra: Record<string, string> = {}): Promise<ProgramRun> {
  const config: Record<string, string> = {
    target: 'kubernetes',
    appReplicas: String(appReplicas),
    dbReplicas: String(dbReplicas),
    namespace: 'aidiary-prod',
    appImage: 'registry.example/aidiary-app:1.2.3',
    edgeImage: 'registry.example/aidiary-edge:1.2.3',
    backupDestination: 's3://aidiary-backups/prod',
    siteUrl: 'https://blog.example.com',
    kubernetesApiCidr: '10.96.0.1/32',
    tlsCertificate: '-----BEGIN CERTIFICATE-----\nMIIpublic\n-----END CERTIFICATE-----',
    ...prodSecretConfig,
    ...extra,
  };
  return runProgram('prod', config, [...Object.keys(prodSecretConfig), 'adminPassword']);
}

/** The staging stack's Docker containers. */
export const CONTAINER = 'docker:index/container:Container';

/** A container's labels as a map (the Docker provider takes them as a list of label/value pairs). */
export const labelsOf = (c: RecordedResource): Record<string, string> =>
  Object.fromEntries((c.inputs.labels ?? []).map((l: { label: string; value: string }) => [l.label, l.value]));

/** A staging run's containers of one `aidiary.role`. */
export const byRole = (run: ProgramRun, role: string) => run.byType(CONTAINER).filter((c) => labelsOf(c)['aidiary.role'] === role);

export function envFromList(list: string[]): Record<string, string> {
  return Object.fromEntries(list.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

/** A temp dir removed when the current test ends. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Rewrites every AIDIARY_*_FILE of an env to a temp file holding what the platform would put at
 * that path (`contentAt(path)`), as the container would see it.
 */
export function materializeSecretFiles(env: Record<string, string>, contentAt: (path: string) => string): Record<string, string> {
  const dir = tempDir('aidiary-secrets-');
  const out = { ...env };
  for (const [key, path] of Object.entries(env)) {
    if (!key.endsWith('_FILE')) continue;
    const local = join(dir, key.toLowerCase());
    writeFileSync(local, contentAt(path), { mode: 0o600 });
    out[key] = local;
  }
  return out;
}

/** Every generated or configured secret value must appear only inside secret Outputs. */
export function plainTextLeaks(run: ProgramRun, plainStrings: (v: unknown) => string[], knownSecrets: string[]): string[] {
  const secrets = [...run.generatedSecrets, ...knownSecrets].filter((s) => s.length >= 8);
  const leaks: string[] = [];
  for (const r of run.resources) {
    for (const s of plainStrings(r.raw)) {
      for (const secret of secrets) if (s.includes(secret)) leaks.push(`${r.type} ${r.name}: ${secret.slice(0, 6)}…`);
    }
  }
  return leaks;
}

/**
 * A Kubernetes workload's first container's environment as the kubelet would give it: plain values,
 * the pod name for `fieldRef: metadata.name`, and each `*_FILE` path resolved through the volume
 * mounts and projected Secret items to the value written there.
 */
export function podEnv(run: ProgramRun, workload: RecordedResource, podName = 'aidiary-prod-app-7d9c5b8f6-x2k4q'): Record<string, string> {
  const spec = workload.inputs.spec.template.spec;
  const container = spec.containers[0];
  const env: Record<string, string> = {};
  for (const e of container.env) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[e.name] = podName;
    else throw new Error(`${e.name}: unexpected valueFrom ${JSON.stringify(e.valueFrom)}`);
  }
  // Resolve each file path through volume mounts and the projected Secret items to the value
  // the kubelet would write there.
  const secretData = (name: string, key: string) => run.byType('kubernetes:core/v1:Secret').find((s) => s.inputs.metadata.name === name)!.inputs.stringData[key];
  return materializeSecretFiles(env, (path) => {
    const mount = container.volumeMounts.find((m: { mountPath: string }) => path.startsWith(`${m.mountPath}/`));
    const volume = spec.volumes.find((v: { name: string }) => v.name === mount.name);
    const file = path.slice(mount.mountPath.length + 1);
    for (const source of volume.projected.sources) {
      const item = source.secret.items.find((i: { path: string }) => i.path === file);
      if (item) return secretData(source.secret.name, item.key);
    }
    throw new Error(`${path}: not provided by volume ${mount.name}`);
  });
}
