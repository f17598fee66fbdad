import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCdnAdapterConfig } from '../../app/cdn/adapter-config';
import { ConfigError } from '../../app/config';

// AIDIARY_CDN_* → the adapter selection: defaults, secrets from *_FILE, and errors naming the
// variable and the fix.

const dir = mkdtempSync(join(tmpdir(), 'aidiary-cdn-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string) => {
  const p = join(dir, name);
  writeFileSync(p, content, { mode: 0o600 });
  return p;
};

describe('loadCdnAdapterConfig', () => {
  it('defaults to none; each provider with its ids and its secret from a file', () => {
    expect(loadCdnAdapterConfig({})).toEqual({ provider: 'none' });
    expect(loadCdnAdapterConfig({ AIDIARY_CDN_PROVIDER: 'none' })).toEqual({ provider: 'none' });
    expect(loadCdnAdapterConfig({
      AIDIARY_CDN_PROVIDER: 'cloudflare', AIDIARY_CDN_CLOUDFLARE_ZONE_ID: '023e105f4ecef8ad9ca31a8372d0c353',
      AIDIARY_CDN_CLOUDFLARE_API_TOKEN_FILE: file('cf', 'tok-1\n'), AIDIARY_CDN_CLOUDFLARE_PURGE_BY: 'urls',
    })).toEqual({
      provider: 'cloudflare', zoneId: '023e105f4ecef8ad9ca31a8372d0c353', apiToken: 'tok-1', purgeBy: 'urls', maxPerRequest: 100,
      purgeDelayMs: 1100, apiUrl: null, maxPagesPerListing: 20,
    });
    expect(loadCdnAdapterConfig({ AIDIARY_CDN_PROVIDER: 'fastly', AIDIARY_CDN_FASTLY_SERVICE_ID: 'SU1Z0isxPaozGVKXdv0eY', AIDIARY_CDN_FASTLY_API_TOKEN_FILE: file('fastly', 'ftok') }))
      .toMatchObject({ provider: 'fastly', serviceId: 'SU1Z0isxPaozGVKXdv0eY', apiToken: 'ftok' });
    expect(loadCdnAdapterConfig({
      AIDIARY_CDN_PROVIDER: 'cloudfront', AIDIARY_CDN_CLOUDFRONT_DISTRIBUTION_ID: 'EDFDVBD6EXAMPLE', AIDIARY_CDN_AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
      AIDIARY_CDN_AWS_SECRET_ACCESS_KEY_FILE: file('aws', 'secret/key+1'), AIDIARY_CDN_PURGE_DELAY_MS: '2000',
    })).toMatchObject({ provider: 'cloudfront', secretAccessKey: 'secret/key+1', purgeDelayMs: 2000 });
    expect(loadCdnAdapterConfig({ AIDIARY_CDN_PROVIDER: 'varnish', AIDIARY_CDN_VARNISH_URL: 'http://127.0.0.1:6081/' }))
      .toMatchObject({ provider: 'varnish', url: 'http://127.0.0.1:6081' });
  });

  it('refuses what cannot work, naming the variable and the fix', () => {
    const err = (env: Record<string, string>) => {
      try {
        loadCdnAdapterConfig(env);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error('accepted');
    };
    expect(err({ AIDIARY_CDN_PROVIDER: 'akamai' })).toBe('AIDIARY_CDN_PROVIDER: "akamai" is not one of none, cloudflare, fastly, cloudfront, varnish');
    expect(err({ AIDIARY_CDN_PROVIDER: 'cloudflare', AIDIARY_CDN_CLOUDFLARE_API_TOKEN: 'x' })).toMatch(/^AIDIARY_CDN_CLOUDFLARE_ZONE_ID: missing for AIDIARY_CDN_PROVIDER=cloudflare; set it/);
    expect(err({ AIDIARY_CDN_PROVIDER: 'cloudflare', AIDIARY_CDN_CLOUDFLARE_ZONE_ID: 'example.com', AIDIARY_CDN_CLOUDFLARE_API_TOKEN: 'x' })).toMatch(/ZONE_ID: "example.com" is not valid/);
    expect(err({ AIDIARY_CDN_PROVIDER: 'fastly', AIDIARY_CDN_FASTLY_SERVICE_ID: 'SU1Z0isxPaozGVKXdv0eY' })).toMatch(/^AIDIARY_CDN_FASTLY_API_TOKEN: missing for AIDIARY_CDN_PROVIDER=fastly; set AIDIARY_CDN_FASTLY_API_TOKEN_FILE/);
    expect(err({ AIDIARY_CDN_PROVIDER: 'fastly', AIDIARY_CDN_FASTLY_SERVICE_ID: 'SU1Z0isxPaozGVKXdv0eY', AIDIARY_CDN_FASTLY_API_TOKEN_FILE: join(dir, 'absent') })).toMatch(/_FILE: cannot read ".*absent" \(ENOENT\)/);
    expect(err({ AIDIARY_CDN_PROVIDER: 'fastly', AIDIARY_CDN_FASTLY_SERVICE_ID: 'SU1Z0isxPaozGVKXdv0eY', AIDIARY_CDN_FASTLY_API_TOKEN_FILE: file('empty', '\n') })).toMatch(/is empty; write the secret into it/);
    // Sooner than nginx's 1 s bound (plus margin) could be refilled from the micro-cache.
    expect(err({ AIDIARY_CDN_PROVIDER: 'varnish', AIDIARY_CDN_VARNISH_URL: 'http://v:6081', AIDIARY_CDN_PURGE_DELAY_MS: '500' })).toBe('AIDIARY_CDN_PURGE_DELAY_MS: expected an integer from 1100 to 60000, got "500"');
    expect(err({ AIDIARY_CDN_PROVIDER: 'varnish', AIDIARY_CDN_VARNISH_URL: 'ftp://v' })).toMatch(/must be http:\/\/ or https:\/\//);
    expect(err({ AIDIARY_CDN_PROVIDER: 'varnish' })).toMatch(/^AIDIARY_CDN_VARNISH_URL: missing/);
  });
});
