import type { BaseImage, Ids } from './base-images';
import type { ImageConfig } from './image-filesystem';

// What a stack declares for one running process (a Docker container, one Kubernetes pod), in
// the terms the replay runs it: the argv the container runtime would exec (image ENTRYPOINT/CMD
// and the declaration's overrides already combined), the environment (image ENV plus the
// declaration's), the files and directories the platform puts in place, the user, the probe.

export interface DeclaredFile { path: string; content: string; mode: number; uid: number; gid: number }
export interface DeclaredDir { path: string; mode: number; uid: number; gid: number }

export type Probe =
  /** Run inside the workload: same user, environment and working directory. */
  | { kind: 'exec'; argv: string[] }
  | { kind: 'http'; port: number; path: string; scheme: 'http' | 'https' };

export interface DeclaredWorkload {
  stack: string;
  /** Container hostname or pod name. */
  name: string;
  /** The declaring resource, for messages: "docker Container apps-app-0". */
  source: string;
  urn: string;
  kind: 'service' | 'one-shot';
  image: string;
  /** Set when the image is built from this repository's Dockerfile. */
  imageConfig: ImageConfig | null;
  base: BaseImage;
  argv: string[];
  env: Record<string, string>;
  /** Kubernetes env set from the pod's own fields (name → fieldPath). */
  fieldRefs: Record<string, string>;
  workdir: string;
  user: Ids;
  files: DeclaredFile[];
  dirs: DeclaredDir[];
  probe: Probe | null;
  /** Container ports it declares (Docker `ports[].internal`, Kubernetes `containerPort`). */
  ports: number[];
  /** Names other workloads reach this one by (network aliases, Services). */
  serviceNames: string[];
  /** URNs of the resources it waits for. */
  dependsOn: string[];
}

/**
 * A part of a stack the replay stands in for because no declared process exists for it here:
 * the CloudNativePG operator's PostgreSQL instances (see data-tier.ts).
 */
export interface EmulatedWorkload {
  stack: string;
  name: string;
  source: string;
  urn: string;
  serviceNames: string[];
  dependsOn: string[];
}

/** Fails on a key the replay does not interpret, so a new setting cannot be silently skipped. */
export function onlyKnownKeys(what: string, obj: Record<string, unknown>, known: string[]): void {
  const unknown = Object.keys(obj).filter((k) => !known.includes(k) && obj[k] !== undefined);
  if (unknown.length) throw new Error(`${what}: ${unknown.map((k) => `\`${k}\``).join(', ')} not interpreted by the stack replay (test/e2e/replay/); teach it or the replay would skip it`);
}
