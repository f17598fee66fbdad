import { createHash } from 'node:crypto';
import type { ProgramRun, RecordedResource } from '../../infra/pulumi-harness';
import { baseImage, resolveUser } from './base-images';
import { onlyKnownKeys, type DeclaredDir, type DeclaredFile, type DeclaredWorkload, type EmulatedWorkload, type Probe } from './declared-workloads';
import type { ImageConfig } from './image-filesystem';

// The prod stack's pods as declared workloads, with Kubernetes' rules: `command` replaces the
// image's ENTRYPOINT (and its CMD unless `args` is given), `args` replaces CMD; runAsUser/
// runAsGroup override USER; Secret and ConfigMap volumes become files (mode defaultMode, group
// fsGroup); each Deployment/StatefulSet replica and the Job become one pod with a pod name.
// The CloudNativePG Cluster has no declared pod: it is returned for data-tier.ts to stand in for.

const K = {
  deployment: 'kubernetes:apps/v1:Deployment',
  statefulSet: 'kubernetes:apps/v1:StatefulSet',
  job: 'kubernetes:batch/v1:Job',
  service: 'kubernetes:core/v1:Service',
  secret: 'kubernetes:core/v1:Secret',
  configMap: 'kubernetes:core/v1:ConfigMap',
  cluster: 'kubernetes:postgresql.cnpg.io/v1:Cluster',
};
/** Workload kinds the replay does not run: a stack that declares one fails here by name. */
const unsupported = ['kubernetes:apps/v1:DaemonSet', 'kubernetes:batch/v1:CronJob', 'kubernetes:core/v1:Pod', 'kubernetes:apps/v1:ReplicaSet'];

const notReplayedContainer = ['name', 'ports', 'livenessProbe', 'startupProbe', 'lifecycle', 'resources', 'securityContext', 'imagePullPolicy'];
const interpretedContainer = ['image', 'command', 'args', 'env', 'readinessProbe', 'volumeMounts', 'workingDir'];
const notReplayedPod = ['terminationGracePeriodSeconds', 'topologySpreadConstraints', 'restartPolicy', 'affinity', 'serviceAccountName', 'automountServiceAccountToken', 'priorityClassName', 'nodeSelector', 'tolerations'];
const interpretedPod = ['containers', 'volumes', 'securityContext'];

export interface CnpgCluster extends EmulatedWorkload {
  spec: Record<string, any>;
  /** The bootstrap Secret's data (username/password of the owner). */
  bootstrapSecret: Record<string, string>;
}

export interface KubernetesDeclaration {
  workloads: DeclaredWorkload[];
  clusters: CnpgCluster[];
  /**
   * Services with a cluster IP: one virtual address, which the replay maps to the first workload
   * behind it (its load balancing is not replayed). Headless Services resolve to every pod.
   */
  virtualIpServices: string[];
}

const isSubset = (sub: Record<string, string>, of: Record<string, string>) => Object.entries(sub).every(([k, v]) => of?.[k] === v);
const suffix = (seed: string, length: number) => createHash('sha256').update(seed).digest('hex').replace(/[0-9]/g, (d) => 'bcdfghjklm'[Number(d)]).slice(0, length);

function secretData(run: ProgramRun, type: string, name: string, what: string): Record<string, string> {
  const found = run.byType(type).find((s) => s.inputs.metadata.name === name);
  if (!found) throw new Error(`${what}: ${type.split(':').pop()} "${name}" is not declared by the stack, so the replay cannot provide it`);
  const i = found.inputs;
  if (i.stringData) return i.stringData;
  return Object.fromEntries(Object.entries<string>(i.data ?? {}).map(([k, v]) => [k, type === K.secret ? Buffer.from(v, 'base64').toString('utf8') : v]));
}

function probeOf(p: Record<string, any> | undefined, ports: { name?: string; containerPort: number }[], what: string): Probe | null {
  if (!p) return null;
  if (p.exec) return { kind: 'exec', argv: p.exec.command };
  if (p.httpGet) {
    const port = typeof p.httpGet.port === 'number' ? p.httpGet.port : ports.find((x) => x.name === p.httpGet.port)?.containerPort;
    if (port === undefined) throw new Error(`${what}: readinessProbe port "${p.httpGet.port}" names no container port`);
    return { kind: 'http', port, path: p.httpGet.path ?? '/', scheme: (p.httpGet.scheme ?? 'HTTP').toLowerCase() };
  }
  throw new Error(`${what}: readinessProbe ${JSON.stringify(p)} is not interpreted by the stack replay (exec or httpGet)`);
}

export function kubernetesWorkloads(run: ProgramRun, images: Record<string, ImageConfig>, builtImages: Record<string, string>, stack: string): KubernetesDeclaration {
  for (const t of unsupported) if (run.byType(t).length) throw new Error(`the stack declares ${t}: not run by the stack replay`);
  const services = run.byType(K.service).map((s) => s.inputs);
  const workloads: DeclaredWorkload[] = [];

  const owners: { r: RecordedResource; kind: 'service' | 'one-shot'; podNames: string[] }[] = [
    ...run.byType(K.deployment).map((r) => {
      const hash = suffix(JSON.stringify(r.inputs.spec.template), 10);
      return { r, kind: 'service' as const, podNames: Array.from({ length: r.inputs.spec.replicas ?? 1 }, (_, i) => `${r.inputs.metadata.name}-${hash}-${suffix(`${r.name}/${i}`, 5)}`) };
    }),
    ...run.byType(K.statefulSet).map((r) => ({ r, kind: 'service' as const, podNames: Array.from({ length: r.inputs.spec.replicas ?? 1 }, (_, i) => `${r.inputs.metadata.name}-${i}`) })),
    ...run.byType(K.job).map((r) => ({ r, kind: 'one-shot' as const, podNames: [`${r.inputs.metadata.name}-${suffix(r.name, 5)}`] })),
  ];

  for (const { r, kind, podNames } of owners) {
    const meta = r.inputs.metadata;
    const source = `${r.type.split(':').pop()} ${meta.name}`;
    const template = r.inputs.spec.template;
    const pod = template.spec;
    onlyKnownKeys(`${source} pod spec`, pod, [...interpretedPod, ...notReplayedPod]);
    if (pod.containers.length !== 1) throw new Error(`${source}: ${pod.containers.length} containers; the stack replay runs pods of one container`);
    const c = pod.containers[0];
    onlyKnownKeys(`${source} container ${c.name}`, c, [...interpretedContainer, ...notReplayedContainer]);
    const target = builtImages[c.image];
    const imageConfig = target ? images[target] : null;
    if (target && !imageConfig) throw new Error(`${source}: image target "${target}" was not assembled`);
    const base = imageConfig?.base ?? baseImage(c.image);
    const entrypoint: string[] = c.command ?? imageConfig?.entrypoint ?? base.entrypoint;
    const cmd: string[] = c.args ?? (c.command ? [] : imageConfig?.cmd ?? base.cmd);

    const env: Record<string, string> = { ...imageConfig?.env };
    const fieldRefs: Record<string, string> = {};
    for (const e of c.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value;
      else if (e.valueFrom?.fieldRef?.fieldPath) fieldRefs[e.name] = e.valueFrom.fieldRef.fieldPath;
      else throw new Error(`${source}: env ${e.name} from ${JSON.stringify(e.valueFrom)} is not interpreted by the stack replay`);
    }

    const sc = { ...pod.securityContext, ...c.securityContext };
    const imageUser = resolveUser(imageConfig?.user ?? 'root', base.users);
    const uid: number = sc.runAsUser ?? imageUser.uid;
    const user = { uid, gid: sc.runAsGroup ?? resolveUser(String(uid), base.users).gid };
    const fsGroup: number | undefined = pod.securityContext?.fsGroup;
    if (fsGroup !== undefined && fsGroup !== user.gid) throw new Error(`${source}: fsGroup ${fsGroup} differs from the process group ${user.gid}; the replay cannot add a supplementary group`);
    const group = fsGroup ?? 0;

    const files: DeclaredFile[] = [];
    const dirs: DeclaredDir[] = [];
    const claims: string[] = (r.inputs.spec.volumeClaimTemplates ?? []).map((v: { metadata: { name: string } }) => v.metadata.name);
    for (const m of c.volumeMounts ?? []) {
      if (m.subPath) throw new Error(`${source}: volumeMount subPath is not interpreted by the stack replay`);
      const v = (pod.volumes ?? []).find((x: { name: string }) => x.name === m.name);
      const what = `${source} volume ${m.name}`;
      const addFiles = (data: Record<string, string>, items: { key: string; path: string; mode?: number }[] | undefined, mode: number) => {
        const list: { key: string; path: string; mode?: number }[] = items ?? Object.keys(data).map((key) => ({ key, path: key }));
        for (const item of list) {
          if (!(item.key in data)) throw new Error(`${what}: key "${item.key}" is not in the declared data`);
          files.push({ path: `${m.mountPath}/${item.path}`, content: data[item.key], mode: item.mode ?? mode, uid: 0, gid: group });
        }
      };
      // Every mount is its own directory, hiding what the image has at that path.
      if (!v && claims.includes(m.name)) dirs.push({ path: m.mountPath, mode: 0o2775, uid: 0, gid: group });
      else if (!v) throw new Error(`${what}: no such volume`);
      else if (v.emptyDir) dirs.push({ path: m.mountPath, mode: 0o2777, uid: 0, gid: group });
      else dirs.push({ path: m.mountPath, mode: 0o755, uid: 0, gid: group });
      if (!v || v.emptyDir) continue;
      if (v.secret) addFiles(secretData(run, K.secret, v.secret.secretName, what), v.secret.items, v.secret.defaultMode ?? 0o644);
      else if (v.configMap) addFiles(secretData(run, K.configMap, v.configMap.name, what), v.configMap.items, v.configMap.defaultMode ?? 0o644);
      else if (v.projected) {
        for (const s of v.projected.sources) {
          if (!s.secret) throw new Error(`${what}: projected source ${JSON.stringify(s)} is not interpreted by the stack replay`);
          addFiles(secretData(run, K.secret, s.secret.name, what), s.secret.items, v.projected.defaultMode ?? 0o644);
        }
      } else throw new Error(`${what}: ${JSON.stringify(v)} is not interpreted by the stack replay`);
    }

    const labels = template.metadata?.labels ?? {};
    const selecting = services.filter((s) => s.spec.selector && isSubset(s.spec.selector, labels));
    const serviceNames = selecting.flatMap((s) => [s.metadata.name, `${s.metadata.name}.${s.metadata.namespace}.svc.cluster.local`]);
    const probe = probeOf(c.readinessProbe, c.ports ?? [], source);
    for (const podName of podNames) {
      workloads.push({
        stack, name: podName, source, urn: r.urn, kind, image: c.image, imageConfig, base,
        argv: [...entrypoint, ...cmd], env: { ...env }, fieldRefs, workdir: c.workingDir ?? imageConfig?.workdir ?? base.workdir,
        user, files, dirs, probe, ports: (c.ports ?? []).map((p: { containerPort: number }) => p.containerPort), serviceNames, dependsOn: r.dependencies,
      });
    }
  }

  const clusters = run.byType(K.cluster).map((r) => {
    const i = r.inputs;
    const name: string = i.metadata.name;
    const bootstrap = i.spec.bootstrap?.initdb;
    if (!bootstrap) throw new Error(`CloudNativePG Cluster ${name}: only bootstrap.initdb is interpreted by the stack replay`);
    return {
      stack, name, source: `CloudNativePG Cluster ${name}`, urn: r.urn, dependsOn: r.dependencies, spec: i.spec,
      bootstrapSecret: secretData(run, K.secret, bootstrap.secret.name, `Cluster ${name} bootstrap`),
      // The operator's Services: -rw the primary, -ro the replicas, -r any instance.
      serviceNames: [`${name}-rw`, `${name}-ro`, `${name}-r`],
    };
  });
  const virtualIpServices = [
    ...services.filter((s) => s.spec.clusterIP !== 'None').flatMap((s) => [s.metadata.name, `${s.metadata.name}.${s.metadata.namespace}.svc.cluster.local`]),
    ...clusters.flatMap((c) => c.serviceNames),
  ];
  return { workloads, clusters, virtualIpServices };
}
