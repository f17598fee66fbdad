import { createHash } from 'node:crypto';
import * as pulumi from '@pulumi/pulumi';

// Runs the Pulumi program (infra/index.ts) against mocks and records every resource it registers,
// with its inputs exactly as serialized to the engine: secret Outputs stay wrapped, so a test can
// tell a secret value from the same text in plain sight.

const SIG = '4dabf18193072939515e22adb298388d';
const SECRET_SIG = '1b47061264138c4ac30d75fd1eb44270';

export interface RecordedResource {
  type: string;
  name: string;
  /** Inputs with secrets unwrapped. */
  inputs: Record<string, any>;
  /** Inputs as sent: secrets as `{ [SIG]: SECRET_SIG, value }`. */
  raw: Record<string, unknown>;
  parent: string;
  dependencies: string[];
  deleteBeforeReplace: boolean;
  urn: string;
}

export interface ProgramRun {
  resources: RecordedResource[];
  outputs: Record<string, unknown>;
  /** Every value the mocks generated for RandomPassword.result. */
  generatedSecrets: string[];
  byType(type: string): RecordedResource[];
  one(type: string, nameIncludes?: string): RecordedResource;
}

export function isSecretWrapper(v: unknown): v is { value: unknown } {
  return !!v && typeof v === 'object' && (v as Record<string, unknown>)[SIG] === SECRET_SIG;
}

export function unwrapSecrets(v: unknown): any {
  if (isSecretWrapper(v)) return unwrapSecrets(v.value);
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
  return v;
}

/** Strings appearing outside any secret wrapper. */
export function plainStrings(v: unknown, out: string[] = []): string[] {
  if (isSecretWrapper(v)) return out;
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => plainStrings(x, out));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => plainStrings(x, out));
  return out;
}

function fakeSecret(name: string, length: number): string {
  return `S3cr3t${createHash('sha256').update(name).digest('hex')}`.slice(0, Math.max(length, 16));
}

function mockState(type: string, name: string, inputs: Record<string, any>): Record<string, any> {
  if (type === 'random:index/randomPassword:RandomPassword') return { ...inputs, result: fakeSecret(name, inputs.length) };
  if (type === 'docker:index/image:Image') {
    const repo = String(inputs.imageName).split(':')[0];
    return { ...inputs, repoDigest: `${repo}@sha256:${createHash('sha256').update(name).digest('hex')}` };
  }
  // The engine auto-names resources without an explicit name (random suffix); emulate that.
  if (type.startsWith('docker:')) {
    // One-shot containers (attach) report the exit code of their run: success by default.
    return { ...inputs, name: inputs.name ?? `${name}-1a2b3c4`, ...(inputs.attach ? { exitCode: 0 } : {}) };
  }
  if (type.startsWith('kubernetes:')) return { ...inputs, metadata: { ...inputs.metadata, name: inputs.metadata?.name ?? `${name}-1a2b3c4` } };
  return inputs;
}

let runCount = 0;

/**
 * `config` keys without the project prefix; values as strings (as the CLI passes them).
 * Secret keys are passed to the runtime as secrets.
 */
export async function runProgram(
  stack: string,
  config: Record<string, string>,
  secretKeys: string[] = [],
  /** Adjusts what the mock "provider" returns, e.g. a failed one-shot container. */
  tweakState: (type: string, name: string, state: Record<string, any>) => Record<string, any> = (_t, _n, s) => s,
): Promise<ProgramRun> {
  const generatedSecrets: string[] = [];
  pulumi.runtime.setAllConfig(
    Object.fromEntries(Object.entries(config).map(([k, v]) => [`aidiary:${k}`, v])),
    secretKeys.map((k) => `aidiary:${k}`),
  );
  await pulumi.runtime.setMocks({
    newResource(args) {
      const state = tweakState(args.type, args.name, mockState(args.type, args.name, args.inputs));
      if (args.type === 'random:index/randomPassword:RandomPassword') generatedSecrets.push(state.result);
      return { id: `${args.name}-id`, state };
    },
    call(args) {
      return args.inputs;
    },
  }, 'aidiary', stack, false);

  const recorded: RecordedResource[] = [];
  const monitor = pulumi.runtime.getMonitor() as any;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: any) => {
    const raw = req.getObject().toJavaScript();
    const type = req.getType();
    const name = req.getName();
    recorded.push({
      type, name, raw,
      inputs: unwrapSecrets(raw),
      parent: req.getParent(),
      dependencies: req.getDependenciesList(),
      deleteBeforeReplace: req.getDeletebeforereplace(),
      urn: monitor.newUrn(req.getParent(), type, name),
    });
    return register(req, callback);
  };

  runCount += 1;
  // Pulumi records `new Error().stack` for every internal promise, and vite-node source-maps each
  // one: without stacks a run takes a third of the time. Restored below; errors keep messages.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return await execute(recorded, generatedSecrets);
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

async function execute(recorded: RecordedResource[], generatedSecrets: string[]): Promise<ProgramRun> {
  const program = await import(/* @vite-ignore */ `../../infra/index.ts?run=${runCount}`);
  const outputs: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(program)) {
    outputs[key] = pulumi.Output.isInstance(value) ? await outputValue(value) : await resolveDeep(value);
  }
  // Let every pending registration reach the mock monitor.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const settings = await import('@pulumi/pulumi/runtime/settings.js');
  await (settings as any).waitForRPCs?.();

  return {
    resources: recorded,
    outputs,
    generatedSecrets,
    byType: (type) => recorded.filter((r) => r.type === type),
    one(type, nameIncludes) {
      const found = recorded.filter((r) => r.type === type && (!nameIncludes || r.name.includes(nameIncludes)));
      if (found.length !== 1) throw new Error(`expected one ${type}${nameIncludes ? ` named *${nameIncludes}*` : ''}, found ${found.length}`);
      return found[0];
    },
  };
}

function outputValue<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => { resolve(v); return v; }));
}

async function resolveDeep(v: unknown): Promise<unknown> {
  if (pulumi.Output.isInstance(v)) return resolveDeep(await outputValue(v as pulumi.Output<unknown>));
  if (Array.isArray(v)) return Promise.all(v.map(resolveDeep));
  if (v && typeof v === 'object') return Object.fromEntries(await Promise.all(Object.entries(v).map(async ([k, x]) => [k, await resolveDeep(x)])));
  return v;
}
