import type { ScenarioName } from './bench-report';
import type { CacheLayers } from './control-client';

// The issue-8 scenarios: what each one requests and which switches it needs. Order matters only
// for readability; every scenario sets its own cache layers before its warm-up.

export type Requirement = 'control' | 'static-root' | 'edge-bypass' | 'author' | 'side' | 'pin' | 'cdn';

/**
 * Where the requests go: the cluster's nginx; the CDN in front of it; the bench's own nginx in
 * front of the node:http floor server; or the bench's own nginx in front of app-0 pinned to one
 * core (side-processes.ts).
 */
export type Via = 'lb' | 'cdn' | 'floor' | 'pinned';

export interface ScenarioSpec {
  name: ScenarioName;
  description: string;
  requires: Requirement[];
  /** Cache layers during the scenario (applied through every app's control port). */
  layers: CacheLayers | null;
  /** Send the edge-bypass header (loopback-only in nginx) so the micro-cache is skipped. */
  bypassEdge: boolean;
  requestKind: 'static-file' | 'health' | 'home' | 'posts-cold' | 'zipf-mix';
  withWriter: boolean;
  via: Via;
  /** Connections for this scenario instead of --connections. */
  connections?: number;
}

const on: CacheLayers = { l1: true, l2: true };

export const scenarioSpecs: ScenarioSpec[] = [
  { name: 'static', description: 'nginx serving a static file the size of the home page (the machine limit)', requires: ['static-root'], layers: null, bypassEdge: false, requestKind: 'static-file', withWriter: false, via: 'lb' },
  { name: 'cdn-hit', description: '/ through the CDN (Varnish) in front of nginx, warm: CDN hits', requires: ['cdn'], layers: on, bypassEdge: false, requestKind: 'home', withWriter: false, via: 'cdn' },
  { name: 'node-floor', description: 'a bare node:http server answering the home page\'s bytes, behind nginx with the apps\' proxy settings (the Node.js floor)', requires: ['side'], layers: null, bypassEdge: true, requestKind: 'home', withWriter: false, via: 'floor' },
  { name: 'health', description: '/health through nginx (trivial-endpoint reference)', requires: [], layers: null, bypassEdge: false, requestKind: 'health', withWriter: false, via: 'lb' },
  { name: 'home-cached', description: '/ warm through every cache layer (edge micro-cache, L1, L2)', requires: [], layers: on, bypassEdge: false, requestKind: 'home', withWriter: false, via: 'lb' },
  { name: 'home-l1', description: '/ with the nginx micro-cache bypassed: app L1 hits', requires: ['control', 'edge-bypass'], layers: on, bypassEdge: true, requestKind: 'home', withWriter: false, via: 'lb' },
  { name: 'home-l1-light', description: 'home-l1 at 3 connections: the apps\' CPU at a lower rate (the capacity model separates per-request and per-second app CPU)', requires: ['control', 'edge-bypass'], layers: on, bypassEdge: true, requestKind: 'home', withWriter: false, via: 'lb', connections: 3 },
  { name: 'home-l2', description: '/ with the micro-cache bypassed and L1 off: every request an L2 (Redis) hit', requires: ['control', 'edge-bypass'], layers: { l1: false, l2: true }, bypassEdge: true, requestKind: 'home', withWriter: false, via: 'lb' },
  { name: 'home-uncached', description: '/ with every cache off: each request runs the SQL and renders', requires: ['control', 'edge-bypass'], layers: { l1: false, l2: false }, bypassEdge: true, requestKind: 'home', withWriter: false, via: 'lb' },
  { name: 'posts-cold', description: 'distinct post pages after a flush, each first request a miss', requires: ['control'], layers: on, bypassEdge: false, requestKind: 'posts-cold', withWriter: false, via: 'lb' },
  { name: 'zipf-mix', description: 'Zipf (s=1) reads over the posts plus listings', requires: [], layers: on, bypassEdge: false, requestKind: 'zipf-mix', withWriter: false, via: 'lb' },
  { name: 'zipf-mix-cdn', description: 'the Zipf mix through the CDN (Varnish) in front of nginx', requires: ['cdn'], layers: on, bypassEdge: false, requestKind: 'zipf-mix', withWriter: false, via: 'cdn' },
  { name: 'read-write', description: 'the Zipf mix plus an author publishing and editing every second', requires: ['author'], layers: on, bypassEdge: false, requestKind: 'zipf-mix', withWriter: true, via: 'lb' },
  { name: 'app-pinned', description: '/ L1 hits on app-0 alone, pinned to core 0 (nginx and wrk on the others): the capacity model\'s held-out check', requires: ['control', 'edge-bypass', 'side', 'pin'], layers: on, bypassEdge: true, requestKind: 'home', withWriter: false, via: 'pinned' },
];

export function parseScenarioList(value: string | undefined): ScenarioName[] {
  const all = scenarioSpecs.map((s) => s.name);
  if (!value || value === 'all') return all;
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !all.includes(n as ScenarioName));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.map((u) => `"${u}"`).join(', ')}; choose from ${all.join(', ')}`);
  return names as ScenarioName[];
}
