import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CommandExecutor } from '../../infra/drills/cluster-driver';
import { DockerDriver } from '../../infra/drills/docker-driver';
import { checkTargetOptions, driverFor, DrillTargetError, stackTopologyName } from '../../infra/drills/drill-target';
import { KubernetesDriver } from '../../infra/drills/kubernetes-driver';
import { tempDir } from '../infra/stack-fixtures';

// `aidiary drill --target`: which options each target takes, what is refused (exit 2 in the CLI)
// and how the chosen driver addresses the stack.

const passwordFile = () => {
  const f = join(tempDir('aidiary-drill-target-'), 'admin-password');
  writeFileSync(f, 'Adm1nPassw0rd\n', { mode: 0o600 });
  return f;
};

describe('checkTargetOptions', () => {
  const refused = (opts: Parameters<typeof checkTargetOptions>[0], scenario: Parameters<typeof checkTargetOptions>[1][number], message: RegExp) =>
    expect(() => checkTargetOptions(opts, [scenario])).toThrow(message);

  it('refuses options that belong to another target, naming where they belong', () => {
    refused({ target: 'local', url: 'http://x' }, 'kill-app', /--url: only with --target docker or kubernetes/);
    refused({ target: 'local', adminPasswordFile: 'f' }, 'kill-app', /--admin-password-file: only with --target docker or kubernetes/);
    refused({ target: 'docker', context: 'c', adminPasswordFile: 'f' }, 'kill-app', /--context: only with --target kubernetes/);
    refused({ target: 'docker', stateDir: '/tmp/x', adminPasswordFile: 'f' }, 'kill-app', /--state-dir: only with --target local/);
  });

  it('asks for what a remote target needs', () => {
    refused({ target: 'docker' }, 'kill-app', /needs --admin-password-file FILE .*pulumi stack output initialAdminPassword --show-secrets --stack staging/);
    refused({ target: 'kubernetes', adminPasswordFile: 'f' }, 'kill-app', /--target kubernetes needs --url/);
    refused({ target: 'docker', url: 'localhost:8080', adminPasswordFile: 'f' }, 'kill-app', /--url localhost:8080: give an http\(s\) URL/);
  });

  it('refuses scenarios a target cannot run', () => {
    refused({ target: 'docker', adminPasswordFile: 'f' }, 'restore', /restore on --target docker: the restore drill runs on the local cluster only/);
    refused({ target: 'kubernetes', url: 'https://x', adminPasswordFile: 'f' }, 'partition-primary', /NetworkPolicy/);
  });

  it('accepts what each target takes', () => {
    expect(() => checkTargetOptions({ target: 'local', stateDir: '/tmp/x' }, ['kill-primary'])).not.toThrow();
    expect(() => checkTargetOptions({ target: 'docker', adminPasswordFile: 'f', stack: 'qa' }, ['partition-primary'])).not.toThrow();
    expect(() => checkTargetOptions({ target: 'kubernetes', url: 'https://blog.example', context: 'prod', namespace: 'blog', adminPasswordFile: 'f' }, ['kill-primary'])).not.toThrow();
  });
});

describe('driverFor', () => {
  const recorder = () => {
    const calls: string[][] = [];
    const exec: CommandExecutor = async (command, args) => { calls.push([command, ...args]); return { stdout: args.includes('json') && command === 'kubectl' ? '{"items":[]}' : '' }; };
    return { calls, exec };
  };

  it('docker: containers of the stack\'s label, its Pulumi stack, the admin password from the file', async () => {
    const r = recorder();
    const d = driverFor({ target: 'docker', stack: 'qa', adminPasswordFile: passwordFile() }, () => {}, r.exec);
    expect(d).toBeInstanceOf(DockerDriver);
    expect(await d.adminCredentials()).toEqual({ username: 'admin', password: 'Adm1nPassw0rd' });
    expect(await d.baseUrl()).toBe('http://127.0.0.1:8080');
    await d.listNodes();
    await d.scale({ apps: 2 });
    expect(r.calls).toEqual([
      ['docker', 'ps', '-a', '--filter', `label=aidiary.stack=${stackTopologyName('qa')}`, '--format', '{{json .}}'],
      ['pulumi', 'config', 'set', '--stack', 'qa', 'appReplicas', '2'],
      ['pulumi', 'up', '--stack', 'qa', '--yes', '--skip-preview'],
    ]);
    expect(stackTopologyName('qa')).toBe('aidiary-qa');
  });

  it('kubernetes: kubectl with --context and --namespace, objects named after the prod stack', async () => {
    const r = recorder();
    const d = driverFor({ target: 'kubernetes', url: 'https://blog.example/', context: 'prod-ctx', namespace: 'blog', adminPasswordFile: passwordFile() }, () => {}, r.exec);
    expect(d).toBeInstanceOf(KubernetesDriver);
    expect(await d.baseUrl()).toBe('https://blog.example');
    await d.scale({ apps: 4 });
    expect(r.calls).toEqual([['kubectl', '--context', 'prod-ctx', '-n', 'blog', 'scale', 'deployment/aidiary-prod-app', '--replicas=4']]);
  });

  it('a missing or empty password file is a usage error naming the file', () => {
    expect(() => driverFor({ target: 'docker', adminPasswordFile: '/nonexistent/pw' }, () => {})).toThrow(DrillTargetError);
    const empty = join(tempDir('aidiary-drill-target-'), 'empty');
    writeFileSync(empty, '\n');
    expect(() => driverFor({ target: 'docker', adminPasswordFile: empty }, () => {})).toThrow(/is empty; write the admin password into it/);
  });
});
