// The stacks' edge config resolves one name (a Docker alias, a headless Service) with `resolve` on
// the upstream server, which needs nginx >= 1.27.3; Debian's nginx here is 1.22. This is the one
// rewrite local runs of that config make: the `resolver` lines go, and the resolved server becomes
// one static `server` line per address the name stands for, with the same parameters.
// Shared by test/infra/edge-nginx-config.test.ts (nginx -t) and the stack replay.

const resolverLine = /^\s*resolver(_timeout)?\s/;
const resolveServer = /^(\s*server )(\S+):(\d+) resolve (.*)$/;

/** `addressesOf(host)` lists the addresses a resolved name stands for, in order. */
export function withoutResolve(config: string, addressesOf: (host: string) => string[]): string {
  return config
    .split('\n')
    .filter((l) => !resolverLine.test(l))
    .flatMap((l) => {
      const m = resolveServer.exec(l);
      if (!m) return [l];
      const [, prefix, host, port, params] = m;
      const addresses = addressesOf(host);
      if (addresses.length === 0) throw new Error(`nginx upstream ${host}:${port}: the name stands for no address`);
      return addresses.map((a) => `${prefix}${a}:${port} ${params}`);
    })
    .join('\n');
}

/** Lines the rewrite touches, for a line-by-line record of it. */
export function isResolveLine(line: string): boolean {
  return resolverLine.test(line) || resolveServer.test(line);
}
