import { createConnection } from 'node:net';

/**
 * One raw RESP command on a fresh connection with no login: what an intruder on the network
 * sends. Resolves with the first reply line without its type byte (e.g. "NOAUTH …", "OK").
 * Hand-rolled on purpose: ioredis would send AUTH/HELLO first and hide what the server says to a
 * client that never logs in.
 */
export function anonymousRedisCommand(port: number, ...command: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    socket.on('connect', () => socket.write(`*${command.length}\r\n${command.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`));
    socket.on('data', (d) => {
      reply += d.toString();
      if (reply.includes('\r\n')) { socket.destroy(); resolve(reply.slice(1, reply.indexOf('\r\n'))); }
    });
    socket.on('error', reject);
  });
}
