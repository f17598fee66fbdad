#!/usr/bin/env node
// Makes sure the system binaries the cluster and the test suite need are present:
// nginx, PostgreSQL (server + contrib for pg_trgm), redis-server and wrk, all from Debian's apt.
// Runs before `npm test` and `aidiary up`. Installs through apt when root (or with --print-only
// it only prints what is missing). Plain JS with no dependencies: it must run on a fresh clone.
// `--with-test-tools` (npm test, .ci/run) adds what only the tests need: Chromium for the
// Playwright browser tests, and a Japanese font so their screenshots of this Japanese-language
// site show text rather than empty boxes. `aidiary up` / `npm start` never install a browser.
// `--with-monitoring` (and --with-test-tools: the alert-rule and monitoring tests) adds Debian's
// Prometheus, its PostgreSQL/Redis/nginx exporters and mtail. Where systemd runs, these packages
// start system services on their default ports: the project never uses those services or ports
// (infra/local/monitoring.ts gives each process its own port and flags).
// `--with-cdn` (and --with-test-tools: the Varnish tests) adds Debian's varnish and
// varnish-modules (vmod xkey) for `aidiary up --cdn varnish`; its system service is never used
// either (infra/local/varnish.ts runs varnishd in the foreground on the topology's port).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

function which(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).status === 0;
}

function postgresBinDir() {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const versions = readdirSync(base).filter((v) => existsSync(`${base}/${v}/bin/initdb`)).sort((a, b) => Number(b) - Number(a));
  return versions.length ? `${base}/${versions[0]}/bin` : null;
}

function hasTrgm() {
  const base = '/usr/share/postgresql';
  if (!existsSync(base)) return false;
  return readdirSync(base).some((v) => existsSync(`${base}/${v}/extension/pg_trgm.control`));
}

/** Where the browser tests expect Debian's Chromium (test/e2e/browser/chromium.ts). */
export const chromiumPath = '/usr/bin/chromium';

function hasJapaneseFont() {
  return spawnSync('fc-list', [':lang=ja', 'family'], { encoding: 'utf8' }).stdout?.trim().length > 0;
}

/** Debian packages for `aidiary up --monitoring`, with the binary each one provides. */
export const monitoringPackages = {
  prometheus: '/usr/bin/prometheus',
  'prometheus-postgres-exporter': '/usr/bin/prometheus-postgres-exporter',
  'prometheus-redis-exporter': '/usr/bin/prometheus-redis-exporter',
  'prometheus-nginx-exporter': '/usr/bin/prometheus-nginx-exporter',
  mtail: '/usr/bin/mtail',
};

/** Debian packages for `aidiary up --cdn varnish`, with a file each one provides. */
export const cdnPackages = {
  varnish: '/usr/sbin/varnishd',
  'varnish-modules': 'vmods/libvmod_xkey.so',
};

function hasVarnishModule(relative) {
  const lib = '/usr/lib';
  if (!existsSync(lib)) return false;
  return readdirSync(lib).some((arch) => existsSync(`${lib}/${arch}/varnish/${relative}`));
}

export function missingPackages({ withTestTools = false, withMonitoring = false, withCdn = false } = {}) {
  const missing = [];
  if (!which('nginx') && !existsSync('/usr/sbin/nginx')) missing.push('nginx');
  if (!postgresBinDir()) missing.push('postgresql');
  if (!hasTrgm()) missing.push('postgresql-contrib');
  if (!which('redis-server')) missing.push('redis-server');
  if (!which('wrk')) missing.push('wrk');
  if (withTestTools && !existsSync(chromiumPath)) missing.push('chromium');
  if (withTestTools && !hasJapaneseFont()) missing.push('fonts-ipafont-gothic');
  if (withTestTools || withMonitoring) {
    for (const [pkg, bin] of Object.entries(monitoringPackages)) if (!existsSync(bin)) missing.push(pkg);
  }
  if (withTestTools || withCdn) {
    for (const [pkg, file] of Object.entries(cdnPackages)) if (!(file.startsWith('/') ? existsSync(file) : hasVarnishModule(file))) missing.push(pkg);
  }
  return missing;
}

export function ensureSystem({ quiet = false, withTestTools = false, withMonitoring = false, withCdn = false } = {}) {
  const missing = missingPackages({ withTestTools, withMonitoring, withCdn });
  if (missing.length === 0) return;
  const cmd = `apt-get update && apt-get install -y ${missing.join(' ')}`;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || process.env.AIDIARY_NO_APT === '1') {
    console.error(`aidiary: missing system packages: ${missing.join(', ')}.\nInstall them with:\n  sudo ${cmd}`);
    process.exit(1);
  }
  if (!quiet) console.error(`aidiary: installing ${missing.join(', ')} through apt (about 15 s, a minute with chromium)…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  const still = missingPackages({ withTestTools, withMonitoring, withCdn });
  if (still.length) {
    console.error(`aidiary: apt did not provide: ${still.join(', ')}`);
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) ensureSystem({
  withTestTools: process.argv.includes('--with-test-tools'), withMonitoring: process.argv.includes('--with-monitoring'), withCdn: process.argv.includes('--with-cdn'),
});
