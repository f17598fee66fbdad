import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { renderNginxConfig } from '../../nginx/render';
import { edgePaths, renderEdgeConfig, workersForCpuLimit } from '../../infra/edge-nginx';
import { dockerNginxConfig } from '../../infra/docker/load-balancer';
import { edgeCpuLimit, kubernetesNginxConfig } from '../../infra/kubernetes/load-balancer';
import { appInstances, parseTopology, type Topology } from '../../infra/topology';
import { withoutResolve } from '../e2e/replay/nginx-static-upstream';
import { counts, tempDir } from './stack-fixtures';

// The configs the stacks ship, checked two ways: the real `resolve` form by rendering rules (the
// local nginx 1.22 predates `resolve` in upstreams), and `nginx -t` on the same text with only
// the resolve-specific tokens swapped for a static loopback server, plus the static form itself.

const NGINX = '/usr/sbin/nginx';

function nginxTest(config: string): { ok: boolean; output: string } {
  const dir = tempDir('aidiary-nginx-');
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, config);
  const r = spawnSync(NGINX, ['-t', '-p', `${dir}/`, '-c', file], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

/** Same config, paths under a temp dir (nginx -t opens logs and creates temp dirs). */
function localPaths(): typeof edgePaths {
  const dir = tempDir('aidiary-nginx-paths-');
  mkdirSync(join(dir, 'static'));
  return { prefix: `${dir}/`, pidFile: `${dir}/nginx.pid`, errorLog: `${dir}/error.log`, accessLog: `${dir}/access.log`, cacheDir: `${dir}/cache`, tempDir: dir, staticRoot: `${dir}/static` };
}

/** The one place the local test departs from the shipped text: no `resolve` before nginx 1.27.3. */
const loopbackServer = (config: string) => withoutResolve(config, () => ['127.0.0.1']);

function selfSignedCert(): { certificateFile: string; keyFile: string } {
  const dir = tempDir('aidiary-tls-');
  const certificateFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=aidiary.test', '-days', '1', '-keyout', keyFile, '-out', certificateFile], { stdio: 'ignore' });
  return { certificateFile, keyFile };
}

function upstreamBlock(config: string): string[] {
  const start = config.indexOf('upstream aidiary_app {');
  return config.slice(start, config.indexOf('}', start)).split('\n').map((l) => l.trim()).filter(Boolean);
}

const topo = (target: 'docker' | 'kubernetes', n: number): Topology =>
  parseTopology({ name: `aidiary-${target === 'docker' ? 'staging' : 'prod'}`, target, host: '0.0.0.0', appReplicas: n, dbReplicas: n });

describe('resolve form: rendering rules', () => {
  test.each(counts)('the config does not depend on the app count (%i apps)', (n) => {
    expect(dockerNginxConfig(topo('docker', n))).toBe(dockerNginxConfig(topo('docker', 1)));
    expect(kubernetesNginxConfig(topo('kubernetes', n), 'aidiary-prod')).toBe(kubernetesNginxConfig(topo('kubernetes', 1), 'aidiary-prod'));
  });

  test.each([
    ['docker', dockerNginxConfig(topo('docker', 3)), 'app:3000', '127.0.0.11'],
    ['kubernetes', kubernetesNginxConfig(topo('kubernetes', 3), 'aidiary-prod'), 'aidiary-prod-app.aidiary-prod.svc.cluster.local:3000', 'kube-dns.kube-system.svc.cluster.local'],
  ])('%s: least_conn over one re-resolved name, shared zone, resolver with a short TTL', (_target, config, server, resolver) => {
    const block = upstreamBlock(config);
    expect(block).toContain('least_conn;');
    expect(block.some((l) => /^zone \S+ \d+k;$/.test(l))).toBe(true);
    expect(block).toContain(`resolver ${resolver} valid=5s ipv6=off;`);
    const servers = block.filter((l) => l.startsWith('server '));
    expect(servers).toHaveLength(1);
    expect(servers[0]).toMatch(new RegExp(`^server ${server.replace(/\./g, '\\.')} resolve max_fails=\\d+ fail_timeout=\\d+s;$`));
    // An app's 503 (session store or database down) passes through: never retried, never counted.
    expect(config).toContain('proxy_next_upstream error timeout http_502 http_503;');
    expect(config).toContain('daemon off;');
    expect(config).toContain('listen 127.0.0.1:8089;');
  });

  test('prod terminates TLS with the mounted Secret files; staging is plain HTTP', () => {
    const prod = kubernetesNginxConfig(topo('kubernetes', 3), 'aidiary-prod');
    expect(prod).toContain('ssl_certificate "/etc/nginx/tls/tls.crt";');
    expect(prod).toContain('ssl_certificate_key "/etc/nginx/tls/tls.key";');
    expect(dockerNginxConfig(topo('docker', 3))).not.toContain('ssl_certificate');
  });

  test('workers: one per CPU of the prod pod\'s limit; staging (no CPU limit) keeps auto; a bad count is refused', () => {
    expect(kubernetesNginxConfig(topo('kubernetes', 3), 'aidiary-prod')).toMatch(/^worker_processes 1;$/m);
    expect(dockerNginxConfig(topo('docker', 3))).toMatch(/^worker_processes auto;$/m);
    expect([0.5, 1, 2.5, 4].map(workersForCpuLimit)).toEqual([1, 1, 2, 4]);
    expect(() => renderEdgeConfig(topo('kubernetes', 1), { host: 'app', port: 3000, resolver: '127.0.0.11' }, undefined, edgePaths, 0)).toThrow(/workerProcesses: must be a whole number of at least 1, got 0/);
  });

  test('every writable path is under /tmp, so nginx runs unprivileged on a read-only root', () => {
    for (const key of ['pidFile', 'cacheDir', 'tempDir'] as const) expect(edgePaths[key]).toMatch(/^\/tmp/);
  });
});

describe('nginx -t', () => {
  test.each(counts)('static form over the %i app instances', (n) => {
    const t = topo('docker', n);
    const config = renderNginxConfig({
      topology: t,
      upstream: { kind: 'static', servers: appInstances(t).map((a, i) => ({ host: '127.0.0.1', port: a.port + i })) },
      listenPort: t.ports.lb,
      stubStatusPort: t.ports.stubStatus,
      paths: localPaths(),
    });
    expect(config.split('\n').filter((l) => /^\s*server 127\.0\.0\.1:\d+ /.test(l))).toHaveLength(n);
    const result = nginxTest(config);
    expect(result.ok, result.output).toBe(true);
  });

  test('the staging config, resolve tokens swapped for a static server', () => {
    const t = topo('docker', 3);
    const config = loopbackServer(renderEdgeConfig(t, { host: 'app', port: 3000, resolver: '127.0.0.11' }, undefined, localPaths()));
    expect(config).not.toMatch(/\bresolve\b/);
    const result = nginxTest(config);
    expect(result.ok, result.output).toBe(true);
  });

  test('the prod config with TLS, resolve tokens swapped for a static server', () => {
    const t = topo('kubernetes', 3);
    const config = loopbackServer(renderEdgeConfig(t, { host: 'aidiary-prod-app.aidiary-prod.svc.cluster.local', port: 3000, resolver: 'kube-dns.kube-system.svc.cluster.local' }, selfSignedCert(), localPaths()));
    const result = nginxTest(config);
    expect(result.ok, result.output).toBe(true);
  });
});
