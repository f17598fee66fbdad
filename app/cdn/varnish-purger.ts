import { type CdnPurger, type PurgeOutcome } from './purger';
import { sendProviderRequest } from './provider-http';
import { cdnTags } from './cdn-headers';

// Varnish with vmod xkey (Debian's varnish-modules): `PURGE /` to Varnish with the header
// `xkey-purge: <space-separated tags>`; the VCL answers 200 after `xkey.purge()` (a hard purge,
// not `xkey.softpurge()`). The pages carry their tags in `Surrogate-Key`, which xkey indexes.
// Tags go in batches whose header stays well under Varnish's request-header limit (8 KiB).

export interface VarnishPurgerOptions {
  /** Varnish's base URL, e.g. http://127.0.0.1:6081. */
  url: string;
  maxHeaderBytes?: number;
}

export const varnishMaxHeaderBytes = 4000;

/** Groups tags so that each space-joined group stays within maxBytes. */
export function batchByBytes(tags: string[], maxBytes: number): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const tag of tags) {
    const add = Buffer.byteLength(tag) + (current.length ? 1 : 0);
    if (current.length && size + add > maxBytes) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(tag);
    size += Buffer.byteLength(tag) + (current.length > 1 ? 1 : 0);
  }
  if (current.length) out.push(current);
  return out;
}

export function createVarnishPurger(opts: VarnishPurgerOptions): CdnPurger {
  const url = new URL('/', opts.url).toString();
  const max = opts.maxHeaderBytes ?? varnishMaxHeaderBytes;
  return {
    provider: 'varnish',
    async purge(tags): Promise<PurgeOutcome> {
      const out: PurgeOutcome = { requests: 0, items: 0 };
      for (const group of batchByBytes(cdnTags(tags), max)) {
        await sendProviderRequest('varnish', { method: 'PURGE', url, headers: { 'xkey-purge': group.join(' ') } });
        out.requests += 1;
        out.items += group.length;
      }
      return out;
    },
  };
}
