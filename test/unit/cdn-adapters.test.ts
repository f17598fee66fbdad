import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Cloudflare from 'cloudflare';
// @ts-expect-error fastly (fastly-js) ships no TypeScript declarations
import Fastly from 'fastly';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { startRecordingServer, type RecordedRequest, type RecordingServer } from './cdn-recording-server';
import { createCloudflarePurger } from '../../app/cdn/cloudflare-purger';
import { createFastlyPurger } from '../../app/cdn/fastly-purger';
import { createVarnishPurger, batchByBytes } from '../../app/cdn/varnish-purger';
import { signAwsRequest } from '../../app/cdn/aws-sigv4';
import { invalidationBatches } from '../../app/cdn/cloudfront-purger';
import { CdnPurgeError } from '../../app/cdn/purger';
import { cdnTags } from '../../app/cdn/cdn-headers';

// Adapter contract tests: each provider's official npm SDK builds a purge request against a
// loopback server that records it (`cloudflare` = cloudflare-typescript, `fastly` = fastly-js; the
// CloudFront request, which needs the database's tag→URL expander, is compared with
// `@aws-sdk/client-cloudfront` in test/integration/cdn-url-adapters.test.ts); our adapter sends
// its request to the same server and must match in method, path, the headers that carry meaning
// (credentials, content type, purge mode) and body.

const zoneId = '023e105f4ecef8ad9ca31a8372d0c353';
const serviceId = 'SU1Z0isxPaozGVKXdv0eY';
const tags = ['site', 'list:home', 'post:42', 'post-slug:hello-world', 'list:tag:日本語', 'list:date:2026-03', `post-slug:${'長'.repeat(60)}`];
// The names the pages' Surrogate-Key / Cache-Tag headers carry (app/cdn/cdn-headers.ts): what the
// SDKs are given, and what the adapters must send for the app's tags.
const names = cdnTags(tags);
const cfOk = { status: 200, body: JSON.stringify({ success: true, errors: [], messages: [], result: { id: 'purge-1' } }) };

let server: RecordingServer;
beforeAll(async () => { server = await startRecordingServer(cfOk); });
afterAll(async () => { await server?.close(); });

const one = (): RecordedRequest => {
  const got = server.take();
  expect(got).toHaveLength(1);
  return got[0];
};

describe('Cloudflare (SDK: cloudflare 7, client.cache.purge)', () => {
  const sdk = () => new Cloudflare({ apiToken: 'cf-token-secret', baseURL: server.url, maxRetries: 0 });

  it('purge by tag: the same POST /zones/{zone}/purge_cache, Bearer token and {"tags": [...]} body', async () => {
    server.fallback = cfOk;
    await sdk().cache.purge({ zone_id: zoneId, tags: names });
    const expected = one();
    const outcome = await createCloudflarePurger({ zoneId, apiToken: 'cf-token-secret', mode: 'tags', siteUrl: 'https://blog.example', apiBase: server.url }).purge(tags);
    const actual = one();
    expect(actual.method).toBe(expected.method);
    expect(actual.path).toBe(expected.path);
    expect(actual.path).toBe(`/zones/${zoneId}/purge_cache`);
    for (const h of ['authorization', 'content-type', 'accept']) expect(actual.headers[h], h).toBe(expected.headers[h]);
    expect(JSON.parse(actual.body)).toEqual(JSON.parse(expected.body));
    expect(outcome).toEqual({ requests: 1, items: tags.length });
  });

  it('splits a batch at the per-request limit (100 tags), each request like the SDK\'s', async () => {
    const many = Array.from({ length: 230 }, (_, i) => `list:tag:t${i}`);
    const outcome = await createCloudflarePurger({ zoneId, apiToken: 'cf-token-secret', mode: 'tags', siteUrl: 'https://blog.example', apiBase: server.url }).purge(many);
    const sent = server.take();
    expect(sent.map((r) => JSON.parse(r.body).tags.length)).toEqual([100, 100, 30]);
    expect(sent.flatMap((r) => JSON.parse(r.body).tags)).toEqual(many);
    expect(outcome).toEqual({ requests: 3, items: 230 });
    await sdk().cache.purge({ zone_id: zoneId, tags: many.slice(200) });
    expect(JSON.parse(one().body)).toEqual(JSON.parse(sent[2].body));
  });

  it('a 429 and a 200 with success:false reject with the provider named and never the token', async () => {
    const purger = createCloudflarePurger({ zoneId, apiToken: 'cf-token-secret', mode: 'tags', siteUrl: 'https://blog.example', apiBase: server.url });
    server.respond = [{ status: 429, headers: { 'retry-after': '60' }, body: JSON.stringify({ success: false, errors: [{ code: 971, message: 'Please wait and consider throttling your request speed' }] }) }];
    const rateLimited = await purger.purge(['feed']).catch((e) => e);
    expect(rateLimited).toBeInstanceOf(CdnPurgeError);
    expect(rateLimited.status).toBe(429);
    expect(rateLimited.message).toMatch(/cloudflare purge failed: .*429 \(Retry-After 60\)/);
    server.respond = [{ status: 200, body: JSON.stringify({ success: false, errors: [{ code: 1134, message: 'purge by tag not allowed' }] }) }];
    const refused = await purger.purge(['feed']).catch((e) => e);
    expect(refused.message).toMatch(/refused: 1134 purge by tag not allowed/);
    for (const err of [rateLimited, refused]) expect(err.message).not.toContain('cf-token-secret');
    server.take();
  });
});

describe('Fastly (SDK: fastly 13, PurgeApi.bulkPurgeTag)', () => {
  const sdk = (softPurge?: number) => {
    const client = new Fastly.ApiClient();
    client.authenticate('fastly-token-secret');
    // The SDK pins https://api.fastly.com per operation; a superagent plugin sends it here instead.
    client.plugins = [(req: { url: string }) => { req.url = req.url.replace('https://api.fastly.com', server.url); }];
    return new Fastly.PurgeApi(client).bulkPurgeTag({ service_id: serviceId, fastly_soft_purge: softPurge, purge_response: { surrogate_keys: names } });
  };

  it('bulk purge by surrogate key: POST /service/{id}/purge, Fastly-Key, {"surrogate_keys": [...]}, hard (no Fastly-Soft-Purge)', async () => {
    server.fallback = { status: 200, body: JSON.stringify(Object.fromEntries(tags.map((t, i) => [t, `id-${i}`]))) };
    await sdk();
    const expected = one();
    await createFastlyPurger({ serviceId, apiToken: 'fastly-token-secret', apiBase: server.url }).purge(tags);
    const actual = one();
    expect(actual.method).toBe(expected.method);
    expect(actual.path).toBe(expected.path);
    expect(actual.path).toBe(`/service/${serviceId}/purge`);
    for (const h of ['fastly-key', 'content-type', 'accept']) expect(actual.headers[h], h).toBe(expected.headers[h]);
    expect(JSON.parse(actual.body)).toEqual(JSON.parse(expected.body));
    expect(actual.headers['fastly-soft-purge']).toBeUndefined();
    expect(expected.headers['fastly-soft-purge']).toBeUndefined();
    // What the SDK sends for a soft purge, which the adapter must never send.
    await sdk(1);
    expect(one().headers['fastly-soft-purge']).toBe('1');
  });

  it('at most 256 keys per request', async () => {
    const many = Array.from({ length: 600 }, (_, i) => `post:${i}`);
    const outcome = await createFastlyPurger({ serviceId, apiToken: 'fastly-token-secret', apiBase: server.url }).purge(many);
    expect(server.take().map((r) => JSON.parse(r.body).surrogate_keys.length)).toEqual([256, 256, 88]);
    expect(outcome.requests).toBe(3);
  });

  it('a 401 rejects with the status, without the token', async () => {
    server.respond = [{ status: 401, body: '{"msg":"Provided credentials are missing or invalid"}' }];
    const err = await createFastlyPurger({ serviceId, apiToken: 'fastly-token-secret', apiBase: server.url }).purge(['feed']).catch((e) => e);
    expect(err).toBeInstanceOf(CdnPurgeError);
    expect(err.status).toBe(401);
    expect(err.message).not.toContain('fastly-token-secret');
    server.take();
  });
});

describe('Varnish xkey (the VCL contract: PURGE / with xkey-purge, answered 200)', () => {
  it('sends PURGE / with the space-separated tags', async () => {
    server.fallback = { status: 200, body: 'purged' };
    const outcome = await createVarnishPurger({ url: server.url }).purge(tags);
    const r = one();
    expect(r.method).toBe('PURGE');
    expect(r.path).toBe('/');
    expect(r.headers['xkey-purge']).toBe(names.join(' '));
    expect(names).toContain('list:tag:%E6%97%A5%E6%9C%AC%E8%AA%9E');
    expect(names.at(-1)).toMatch(/^h:[0-9a-f]{32}$/);
    expect(outcome).toEqual({ requests: 1, items: tags.length });
  });

  it('keeps each header under the byte bound, and a non-200 rejects', async () => {
    const many = Array.from({ length: 500 }, (_, i) => `list:category:category-number-${i}`);
    const groups = batchByBytes(many, 4000);
    expect(groups.flat()).toEqual(many);
    for (const g of groups) expect(Buffer.byteLength(g.join(' '))).toBeLessThanOrEqual(4000);
    await createVarnishPurger({ url: server.url }).purge(many);
    expect(server.take()).toHaveLength(groups.length);
    server.respond = [{ status: 405, body: 'Not allowed.' }];
    await expect(createVarnishPurger({ url: server.url }).purge(['feed'])).rejects.toThrow(/varnish purge failed: PURGE \/ answered 405/);
    server.take();
  });

  it('an unreachable Varnish rejects naming the refusal', async () => {
    const closed = await startRecordingServer(cfOk);
    await closed.close();
    await expect(createVarnishPurger({ url: closed.url }).purge(['feed'])).rejects.toThrow(/varnish purge failed: PURGE 127\.0\.0\.1:\d+: no answer \(ECONNREFUSED\)/);
  });
});

describe('CloudFront request parts', () => {
  it('SigV4: the official @smithy/signature-v4 computes the same signature for the same request', async () => {
    const credentials = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
    const now = new Date('2026-12-06T10:11:12Z');
    const body = '<InvalidationBatch/>';
    const url = 'https://cloudfront.amazonaws.com/2020-05-31/distribution/EDFDVBD6EXAMPLE/invalidation';
    const ours = signAwsRequest({ method: 'POST', url, headers: { 'content-type': 'application/xml' }, body, region: 'us-east-1', service: 'cloudfront', credentials, now });
    const signer = new SignatureV4({ credentials, region: 'us-east-1', service: 'cloudfront', sha256: Hash.bind(null, 'sha256') });
    const { authorization: _, ...unsigned } = ours;
    const theirs = await signer.sign({
      method: 'POST', protocol: 'https:', hostname: 'cloudfront.amazonaws.com', path: '/2020-05-31/distribution/EDFDVBD6EXAMPLE/invalidation',
      headers: { ...unsigned }, body,
    }, { signingDate: now });
    expect(ours.authorization).toBe(theirs.headers.authorization);
    expect(ours['x-amz-date']).toBe('20261206T101112Z');
  });

  it('batches: at most maxPaths per request, wildcards with the first, more than 15 wildcards → /*', () => {
    const exact = Array.from({ length: 7 }, (_, i) => `/p/${i}`);
    expect(invalidationBatches(exact, ['/tag/x/page/*'], 3)).toEqual([['/tag/x/page/*'], ['/p/0', '/p/1', '/p/2'], ['/p/3', '/p/4', '/p/5'], ['/p/6']]);
    expect(invalidationBatches(exact.slice(0, 2), ['/a*'], 3)).toEqual([['/p/0', '/p/1', '/a*']]);
    expect(invalidationBatches(exact, Array.from({ length: 16 }, (_, i) => `/w${i}*`), 3000)).toEqual([['/*']]);
    expect(invalidationBatches(exact, ['/*'], 3000)).toEqual([['/*']]);
  });
});
