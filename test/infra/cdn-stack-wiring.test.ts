import { describe, expect, test } from 'vitest';
import { loadCdnAdapterConfig } from '../../app/cdn/adapter-config';
import { runProgram, plainStrings, type ProgramRun, type RecordedResource } from './pulumi-harness';
import { byRole, envFromList, materializeSecretFiles, plainTextLeaks, podEnv, prodSecretConfig, runProd } from './stack-fixtures';
import { schemaProblems } from './kubernetes-schema';
import { connectionAllowed, type Policy } from './network-policy-eval';

// Prod wiring of the CDN purge adapter: Pulumi config selects it (cdnProvider + ids), its
// credential is a secret config key that reaches the apps as a file only (a Docker upload, a key of
// the app Secret projected into the pod), the env the stacks render is what the app's own parser
// (app/cdn/adapter-config.ts) accepts, and on Kubernetes the apps' NetworkPolicy lets them reach the
// purge API. Without a CDN nothing of this is declared.

const zoneId = '023e105f4ecef8ad9ca31a8372d0c353';
const cfToken = 'cf-purge-token-0123456789abcdef';
const awsSecret = 'aws-cdn-secret-key-0123456789abcdef';
const K = {
  secret: 'kubernetes:core/v1:Secret',
  deployment: 'kubernetes:apps/v1:Deployment',
  job: 'kubernetes:batch/v1:Job',
  policy: 'kubernetes:networking.k8s.io/v1:NetworkPolicy',
};

const cdnKeys = (env: Record<string, string>) => Object.keys(env).filter((k) => k.startsWith('AIDIARY_CDN_PROVIDER') || k.startsWith('AIDIARY_CDN_CLOUD') || k.startsWith('AIDIARY_CDN_FASTLY') || k.startsWith('AIDIARY_CDN_AWS') || k.startsWith('AIDIARY_CDN_VARNISH'));


describe('staging (Docker) with cdnProvider cloudflare', () => {
  const run = () => runProgram('staging', { target: 'docker', appReplicas: '2', dbReplicas: '1', cdnProvider: 'cloudflare', cdnCloudflareZoneId: zoneId, cdnApiToken: cfToken }, ['cdnApiToken']);

  test('apps get the adapter env and the token as an uploaded file the app parser reads; migrations get neither; no plain-text token', async () => {
    const r = await run();
    const apps = byRole(r, 'app');
    expect(apps).toHaveLength(2);
    for (const c of apps) {
      const uploads = new Map<string, { content: string; permissions: string }>(c.inputs.uploads.map((u: { file: string; content: string; permissions: string }) => [u.file, u]));
      const env = envFromList(c.inputs.envs);
      expect(env.AIDIARY_CDN_PROVIDER).toBe('cloudflare');
      expect(env.AIDIARY_CDN_CLOUDFLARE_API_TOKEN).toBeUndefined();
      expect(uploads.get(env.AIDIARY_CDN_CLOUDFLARE_API_TOKEN_FILE)?.permissions).toBe('0440');
      const parsed = loadCdnAdapterConfig(materializeSecretFiles(env, (path) => uploads.get(path)!.content));
      expect(parsed).toMatchObject({ provider: 'cloudflare', zoneId, apiToken: cfToken, purgeBy: 'tags', purgeDelayMs: 1100 });
    }
    for (const c of byRole(r, 'migrate')) expect(cdnKeys(envFromList(c.inputs.envs))).toEqual([]);
    expect(plainTextLeaks(r, plainStrings, [cfToken])).toEqual([]);
  });

  test('nginx passes the purge tags and CDN TTL headers on to the CDN; without one it strips them', async () => {
    const nginxConf = (r: ProgramRun): string => byRole(r, 'lb')[0].inputs.uploads.find((u: { file: string }) => u.file === '/etc/nginx/aidiary/nginx.conf').content;
    const withCdn = nginxConf(await run());
    expect(withCdn).not.toMatch(/proxy_hide_header (Surrogate-Key|Cache-Tag|Surrogate-Control|CDN-Cache-Control)/);
    const without = nginxConf(await runProgram('staging', { target: 'docker', appReplicas: '2', dbReplicas: '1' }));
    for (const h of ['Surrogate-Key', 'Cache-Tag', 'Surrogate-Control', 'CDN-Cache-Control', 'Cloudflare-CDN-Cache-Control']) expect(without).toContain(`proxy_hide_header ${h};`);
  });

  test('a missing id or secret, or an unknown provider, fails the preview naming the key and the fix', async () => {
    await expect(runProgram('staging', { target: 'docker', cdnProvider: 'cloudflare', cdnApiToken: cfToken }, ['cdnApiToken']))
      .rejects.toThrow(/cdnCloudflareZoneId: required with cdnProvider cloudflare; run `pulumi config set cdnCloudflareZoneId /);
    await expect(runProgram('staging', { target: 'docker', cdnProvider: 'fastly', cdnFastlyServiceId: 'SU1Z0isxPaozGVKXdv0eY' }))
      .rejects.toThrow(/cdnApiToken: required with cdnProvider fastly; run `pulumi config set --secret cdnApiToken <value>`/);
    await expect(runProgram('staging', { target: 'docker', cdnProvider: 'akamai' })).rejects.toThrow(/cdnProvider: expected one of none, cloudflare, fastly, cloudfront, varnish, got "akamai"/);
    await expect(runProgram('staging', { target: 'docker', cdnProvider: 'varnish', cdnVarnishUrl: 'varnish:6081' })).rejects.toThrow(/cdnVarnishUrl: "varnish:6081" is not valid/);
  });
});

describe('prod (Kubernetes) with cdnProvider cloudfront', () => {
  const extra = { cdnProvider: 'cloudfront', cdnCloudfrontDistributionId: 'EDFDVBD6EXAMPLE', cdnAwsAccessKeyId: 'AKIAIOSFODNN7EXAMPLE', cdnEgressCidr: '203.0.113.0/24' };
  const run = () => runProgram('prod', {
    target: 'kubernetes', appReplicas: '2', dbReplicas: '1', namespace: 'aidiary-prod', appImage: 'registry.example/aidiary-app:1.2.3', edgeImage: 'registry.example/aidiary-edge:1.2.3',
    backupDestination: 's3://aidiary-backups/prod', siteUrl: 'https://blog.example.com', kubernetesApiCidr: '10.96.0.1/32',
    tlsCertificate: '-----BEGIN CERTIFICATE-----\nMIIpublic\n-----END CERTIFICATE-----', ...prodSecretConfig, ...extra, cdnAwsSecretAccessKey: awsSecret,
  }, [...Object.keys(prodSecretConfig), 'cdnAwsSecretAccessKey']);

  test('the app pods read the adapter env and the secret key from the app Secret; the objects pass the strict schema', async () => {
    const r = await run();
    const app = r.byType(K.deployment).find((d) => d.inputs.metadata.name === 'aidiary-prod-app')!;
    const env = podEnv(r, app);
    expect(loadCdnAdapterConfig(env)).toMatchObject({ provider: 'cloudfront', distributionId: 'EDFDVBD6EXAMPLE', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: awsSecret });
    const appSecret = r.byType(K.secret).find((s) => s.inputs.metadata.name === 'aidiary-prod-app-secrets')!;
    expect(Object.keys(appSecret.inputs.stringData)).toContain('cdn-aws-secret-access-key');
    // The migration Job has no CDN env.
    const job = r.byType(K.job)[0];
    expect(job.inputs.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name).filter((n: string) => n.startsWith('AIDIARY_CDN_PROVIDER'))).toEqual([]);
    for (const o of [app, appSecret, job]) expect(await schemaProblems(o.inputs), o.name).toEqual([]);
    expect(plainTextLeaks(r, plainStrings, [awsSecret])).toEqual([]);
    const nginxConf: string = r.byType('kubernetes:core/v1:ConfigMap').find((c) => c.inputs.data?.['nginx.conf'])!.inputs.data['nginx.conf'];
    expect(nginxConf).toContain('A CDN is in front');
    expect(nginxConf).not.toContain('proxy_hide_header Surrogate-Key');
  });

  test('the apps may reach the purge API (cdnEgressCidr:443); no other pod may, and without a CDN nor may the apps', async () => {
    const r = await run();
    const policies = r.byType(K.policy).map((p) => p.inputs as Policy);
    for (const p of r.byType(K.policy)) expect(await schemaProblems(p.inputs), p.name).toEqual([]);
    const app = r.byType(K.deployment).find((d) => d.inputs.metadata.name === 'aidiary-prod-app')!;
    const edge = r.byType(K.deployment).find((d) => d.inputs.metadata.name !== 'aidiary-prod-app')!;
    const pod = (d: RecordedResource, ip: string) => ({ name: d.name, ip, pod: { namespace: 'aidiary-prod', namespaceLabels: { 'kubernetes.io/metadata.name': 'aidiary-prod' }, labels: d.inputs.spec.template.metadata.labels } });
    const api = { name: 'purge api', ip: '203.0.113.9' };
    expect(connectionAllowed(policies, pod(app, '10.1.0.5'), api, 443, 'TCP')).toBe(true);
    expect(connectionAllowed(policies, pod(app, '10.1.0.5'), { name: 'elsewhere', ip: '198.51.100.9' }, 443, 'TCP')).toBe(false);
    expect(connectionAllowed(policies, pod(edge, '10.1.0.6'), api, 443, 'TCP')).toBe(false);

    const plain = await runProd(2, 1);
    const plainPolicies = plain.byType(K.policy).map((p) => p.inputs as Policy);
    const plainApp = plain.byType(K.deployment).find((d) => d.inputs.metadata.name === 'aidiary-prod-app')!;
    expect(connectionAllowed(plainPolicies, pod(plainApp, '10.1.0.5'), api, 443, 'TCP')).toBe(false);
    expect(cdnKeys(podEnv(plain, plainApp))).toEqual([]);
    expect(Object.keys(plain.byType(K.secret).find((s) => s.inputs.metadata.name === 'aidiary-prod-app-secrets')!.inputs.stringData).filter((k) => k.startsWith('cdn-'))).toEqual([]);
  });
});
