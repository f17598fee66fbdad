import { ObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';
import { BarmanObjectStoreConfiguration } from '@kubernetes-models/cloudnative-pg/github.com/cloudnative-pg/barman-cloud/pkg/api/BarmanObjectStoreConfiguration';
import { EnvVar, ResourceRequirements } from 'kubernetes-models/v1';
import { z } from 'zod';

// Strict offline validation of Kubernetes objects: wrong types, missing required fields, bad enum
// values AND unknown fields, which the API server rejects under strict field validation (kubectl's
// default) and otherwise silently drops, so a misspelt setting would never apply.
//
// Schemas come from npm: kubernetes-models (built-in kinds), @kubernetes-models/cloudnative-pg
// (CloudNativePG kinds and the barman-cloud object store configuration), @kubernetes-models/
// prometheus-operator (PodMonitor, ServiceMonitor, PrometheusRule). Those packages ship their
// OpenAPI schemas only as ajv "standalone" validators, compiled without `additionalProperties`, so
// they accept any extra field, and no npm package ships the raw schemas to recompile strictly (the
// kubeconform -strict way). This wrapper adds the missing check without a second copy of the
// schemas: the compiled code reads every property its schema declares (and every key of a map),
// so a key the validator never read while validating its object is a field the schema does not
// have. Objects it reads no key of are free-form (x-kubernetes-preserve-unknown-fields) or never
// reached, and are left alone.

type Model = { apiVersion?: unknown; kind?: unknown; prototype: { validate(): void } };
type Visited = { path: string; value: object; read: Set<string> };

/** A proxy over `value` (and lazily over everything below it) recording which keys are read. */
function tracked(value: unknown, path: string, visited: Visited[]): unknown {
  if (!value || typeof value !== 'object') return value;
  const read = new Set<string>();
  visited.push({ path, value, read });
  const children = new Map<string, unknown>();
  return new Proxy(value, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (typeof key !== 'string') return v;
      read.add(key);
      if (!v || typeof v !== 'object') return v;
      if (!children.has(key)) children.set(key, tracked(v, `${path}/${key}`, visited));
      return children.get(key);
    },
    has(target, key) {
      if (typeof key === 'string') read.add(key);
      return Reflect.has(target, key);
    },
  });
}

/** Problems of `value` against a packaged model's schema, as `<path>: <message>`. */
function modelProblems(model: Model, value: unknown, at = ''): string[] {
  const visited: Visited[] = [];
  const problems: string[] = [];
  try {
    model.prototype.validate.call(tracked(value, at, visited));
  } catch (e) {
    const errors = (e as { errors?: { instancePath: string; message?: string }[] }).errors;
    if (!errors) throw e;
    for (const err of errors) problems.push(`${at}${err.instancePath || '/'}: ${err.message}`);
  }
  for (const { path, value: object, read } of visited) {
    if (Array.isArray(object) || read.size === 0) continue;
    for (const key of Object.keys(object)) if (!read.has(key)) problems.push(`${path}/${key}: unknown field`);
  }
  return problems;
}

// The Barman Cloud plugin's ObjectStore (barmancloud.cnpg.io/v1) has no npm models package. Its
// `spec.configuration` is the same BarmanObjectStoreConfiguration type as a CloudNativePG Cluster's
// `.spec.backup.barmanObjectStore`, so it is checked with that packaged schema; only the thin
// envelope around it is written here, field for field from the plugin's API reference
// (ObjectStore, ObjectStoreSpec, InstanceSidecarConfiguration), with typed parts delegated to the
// Kubernetes models (ObjectMeta, EnvVar, ResourceRequirements).
const objectStoreEnvelope = z.object({
  apiVersion: z.literal('barmancloud.cnpg.io/v1'),
  kind: z.literal('ObjectStore'),
  metadata: z.record(z.unknown()),
  spec: z.object({
    configuration: z.record(z.unknown()),
    retentionPolicy: z.string().regex(/^[1-9][0-9]*[dwm]$/, 'must look like 30d, 4w or 6m').optional(),
    instanceSidecarConfiguration: z.object({
      env: z.array(z.unknown()).optional(),
      retentionPolicyIntervalSeconds: z.number().int().optional(),
      resources: z.record(z.unknown()).optional(),
      additionalContainerArgs: z.array(z.string()).optional(),
      logLevel: z.enum(['error', 'warning', 'info', 'debug', 'trace']).optional(),
    }).strict().optional(),
  }).strict(),
  status: z.record(z.unknown()).optional(),
}).strict();

function objectStoreProblems(obj: Record<string, any>): string[] {
  const parsed = objectStoreEnvelope.safeParse(obj);
  if (!parsed.success) {
    return parsed.error.issues.map((i) => `/${i.path.join('/')}: ${i.message}`);
  }
  const sidecar = obj.spec.instanceSidecarConfiguration;
  return [
    ...modelProblems(ObjectMeta, obj.metadata, '/metadata'),
    ...modelProblems(BarmanObjectStoreConfiguration, obj.spec.configuration, '/spec/configuration'),
    ...(sidecar?.env ?? []).flatMap((e: unknown, i: number) => modelProblems(EnvVar, e, `/spec/instanceSidecarConfiguration/env/${i}`)),
    ...(sidecar?.resources ? modelProblems(ResourceRequirements, sidecar.resources, '/spec/instanceSidecarConfiguration/resources') : []),
  ];
}

/** The npm module holding the models of an API group version, or undefined when none does. */
function modelModule(apiVersion: string): string | undefined {
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  if (group === 'postgresql.cnpg.io') return `@kubernetes-models/cloudnative-pg/${apiVersion}`;
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  // The core group ("v1"), the unqualified built-in groups (apps, batch, policy, …) and *.k8s.io.
  if (!group.includes('.') || group.endsWith('.k8s.io')) return `kubernetes-models/${apiVersion}`;
  return undefined;
}

async function modelFor(apiVersion: string, kind: string): Promise<Model | undefined> {
  const specifier = modelModule(apiVersion);
  if (!specifier) return undefined;
  let exports: Record<string, unknown>;
  try {
    exports = await import(/* @vite-ignore */ specifier);
  } catch {
    return undefined;
  }
  return Object.values(exports).find((m): m is Model => typeof m === 'function' && (m as Model).apiVersion === apiVersion && (m as Model).kind === kind);
}

/**
 * Everything the API server would refuse in `obj` for schema reasons, as `<json path>: <message>`;
 * empty when it is valid. A kind without a schema here is a problem, never skipped.
 */
export async function schemaProblems(obj: unknown): Promise<string[]> {
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) return ['/: not an object'];
  const { apiVersion, kind } = obj as Record<string, unknown>;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return ['/: apiVersion and kind must be strings'];
  if (apiVersion === 'barmancloud.cnpg.io/v1' && kind === 'ObjectStore') return objectStoreProblems(obj as Record<string, any>);
  const model = await modelFor(apiVersion, kind);
  if (!model) return [`/: no schema for ${apiVersion} ${kind}`];
  return modelProblems(model, obj);
}
