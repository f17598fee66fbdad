import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, freePortBlock } from '../../infra/local/process';

// Ports handed to servers must lie below the kernel's ephemeral range: a free port inside it can
// become the local end of an outgoing connection before the server binds it (EADDRINUSE).
const ephemeralStart = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

describe('free ports', () => {
  it('a single port and a block lie wholly below the ephemeral range and can be bound', async () => {
    for (let i = 0; i < 20; i++) {
      const port = await freePort();
      expect(port).toBeGreaterThanOrEqual(10000);
      expect(port).toBeLessThan(ephemeralStart);
    }
    const base = await freePortBlock(40);
    expect(base + 40).toBeLessThanOrEqual(ephemeralStart);
    const servers = await Promise.all(Array.from({ length: 40 }, (_, i) => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(base + i, '127.0.0.1', () => resolve(s));
    })));
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });
});
