import { describe, expect, it } from 'vitest';
import { acceptedHostNames, appEnvironment, appInstances, dbInstances, parseTopology, siteOrigin, trustedEdgeAddresses, type TopologyOverrides } from '../../infra/topology';
import { loadConfig } from '../../app/config';
import { trustedEdgeCheck } from '../../app/trusted-edge';

// Who may speak for the client (the edge only), the public origin, and the login numbers: from
// the topology, through the app's environment, into the app's config.

const envOf = (overrides: TopologyOverrides = {}) => {
  const t = parseTopology(overrides);
  return appEnvironment(t, appInstances(t)[0], {
    dbNodes: dbInstances(t).map((d) => ({ name: d.name, host: '127.0.0.1', port: d.port })),
    redisSessions: { host: '127.0.0.1', port: t.ports.redisSessions },
    redisCache: { host: '127.0.0.1', port: t.ports.redisCache },
  });
};
const secrets = { AIDIARY_DB_PASSWORD: 'x'.repeat(20), AIDIARY_SESSION_SECRET: 's'.repeat(40) };

describe('topology: site origin, trusted proxies, login limits', () => {
  it('derives the origin from the outermost tier unless siteUrl is set; accepted Host names follow it', () => {
    const local = parseTopology({ ports: { lb: 9090 } });
    expect(siteOrigin(local)).toBe('http://127.0.0.1:9090');
    expect(acceptedHostNames(local)).toEqual(['127.0.0.1', 'localhost']);
    expect(siteOrigin(parseTopology({ target: 'docker', host: '0.0.0.0' }))).toBe('http://localhost:8080');
    const prod = parseTopology({ target: 'kubernetes', siteUrl: 'https://blog.example.com' });
    expect(siteOrigin(prod)).toBe('https://blog.example.com');
    // Kubernetes serves its public name only; loopback names are for the local and Docker targets.
    expect(acceptedHostNames(prod)).toEqual(['blog.example.com']);
  });

  it('refuses a siteUrl with a path or an odd scheme, and trustedProxies that are not addresses or CIDRs', () => {
    expect(() => parseTopology({ siteUrl: 'https://blog.example.com/blog' })).toThrow(/topology\.siteUrl: must be scheme:\/\/host\[:port\]/);
    expect(() => parseTopology({ siteUrl: 'ftp://blog.example.com' })).toThrow(/topology\.siteUrl/);
    expect(() => parseTopology({ trustedProxies: ['10.0.0.0/33'] })).toThrow(/topology\.trustedProxies\.0: must be an IP address or CIDR/);
    expect(() => parseTopology({ trustedProxies: ['cdn.example'] })).toThrow(/trustedProxies/);
    expect(parseTopology({ trustedProxies: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'] }).trustedProxies).toHaveLength(3);
    expect(parseTopology().trustedProxies).toEqual([]);
  });

  it('the app trusts the edge only: loopback locally, the private network on the stacks', () => {
    expect(trustedEdgeAddresses(parseTopology())).toEqual(['127.0.0.1', '::1']);
    expect(trustedEdgeAddresses(parseTopology({ target: 'docker', host: '0.0.0.0' }))).toEqual(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']);
  });

  it('hands the origin, the edge and the login numbers to the app, which parses them', () => {
    const env = envOf({ login: { maxAttemptsPerAddress: 7, addressWindowSeconds: 60, usernameBackoffCapSeconds: 12 } });
    expect(env.AIDIARY_TRUST_PROXY).toBeUndefined();
    const config = loadConfig({ ...env, ...secrets });
    expect(config.trustedEdge).toEqual(['127.0.0.1', '::1']);
    expect(config.siteUrl).toBe('http://127.0.0.1:8080');
    expect(config.login).toEqual({ maxAttemptsPerAddress: 7, addressWindowSeconds: 60, backoffCapSeconds: 12 });
  });
});

describe('app config: trust and origin', () => {
  const base = { ...secrets, AIDIARY_DB_NODES: 'pg-0@127.0.0.1:5433' };

  it('refuses the old trust-everything switch, naming its replacement', () => {
    expect(() => loadConfig({ ...base, AIDIARY_TRUST_PROXY: 'true' })).toThrow(/AIDIARY_TRUST_PROXY: no longer read .* AIDIARY_TRUSTED_EDGE/);
  });

  it('validates the edge list and the origin', () => {
    expect(() => loadConfig({ ...base, AIDIARY_TRUSTED_EDGE: '127.0.0.1,everyone' })).toThrow(/AIDIARY_TRUSTED_EDGE: "everyone" is not an IP address or CIDR/);
    expect(() => loadConfig({ ...base, AIDIARY_SITE_URL: 'https://x.example/path' })).toThrow(/AIDIARY_SITE_URL: expected scheme:\/\/host\[:port\] without a path/);
    const c = loadConfig({ ...base, AIDIARY_SITE_URL: 'HTTPS://Blog.Example.com/' });
    expect(c.siteUrl).toBe('https://blog.example.com');
    expect(c.trustedEdge).toEqual([]);
    expect(c.trustProxy).toBe(false);
    expect(loadConfig(base).login).toEqual({ maxAttemptsPerAddress: 50, addressWindowSeconds: 300, backoffCapSeconds: 30 });
  });
});

describe('trustedEdgeCheck', () => {
  it('matches addresses and CIDRs, IPv4-mapped IPv6 peers included; nothing when the list is empty', () => {
    const check = trustedEdgeCheck(['127.0.0.1', '10.0.0.0/8', 'fc00::/7']);
    expect(check('127.0.0.1')).toBe(true);
    expect(check('::ffff:127.0.0.1')).toBe(true);
    expect(check('10.42.3.4')).toBe(true);
    expect(check('::ffff:10.42.3.4')).toBe(true);
    expect(check('fd12:3456::1')).toBe(true);
    expect(check('127.0.0.2')).toBe(false);
    expect(check('11.0.0.1')).toBe(false);
    expect(check('203.0.113.9')).toBe(false);
    expect(check(undefined)).toBe(false);
    expect(check('not-an-address')).toBe(false);
    expect(trustedEdgeCheck([])('127.0.0.1')).toBe(false);
  });
});
