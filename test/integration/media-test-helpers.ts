import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import type { LoggedIn } from './auth-test-helpers';

// Shared by the media-* and jobs-* tests: real images made with sharp, and multipart bodies for
// app.inject() (built by hand so the test controls the file name and the declared type).

export async function makeImage(format: 'png' | 'jpeg' | 'webp' | 'gif', width = 800, height = 600, seed = 1): Promise<Buffer> {
  // A gradient with a seeded colour: different seeds give different bytes (different SHA-256).
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      raw[i] = (x * 255 / width + seed * 37) & 0xff;
      raw[i + 1] = (y * 255 / height + seed * 91) & 0xff;
      raw[i + 2] = (seed * 53) & 0xff;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } }).toFormat(format).toBuffer();
}

export function multipart(
  file: { data: Buffer; filename: string; contentType?: string } | null,
  fields: Record<string, string> = {},
): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----aidiary${randomBytes(8).toString('hex')}`;
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  if (file) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.filename}"\r\n`
      + `Content-Type: ${file.contentType ?? 'application/octet-stream'}\r\n\r\n`));
    parts.push(file.data, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(parts), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** POST /api/media as `who` (with the CSRF header unless csrf: false). */
export function uploadApi(app: FastifyInstance, who: LoggedIn | null, file: { data: Buffer; filename: string; contentType?: string }, opts: { csrf?: boolean } = {}) {
  const body = multipart(file);
  const headers: Record<string, string> = { ...body.headers };
  if (who) headers.cookie = who.cookie;
  if (who && opts.csrf !== false) headers['x-csrf-token'] = who.csrf;
  return app.inject({ method: 'POST', url: '/api/media', headers, payload: body.payload });
}

export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
