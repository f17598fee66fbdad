import type { MediaLibrary } from '../media/media-library';
import { mimeForExt } from '../media/media-type';

// A deleted media file must leave the CDN too (browsers keep `immutable` copies; nothing can reach
// those). Its purge tag is `media:<sha256>` (what a media response carries in `Surrogate-Key` and
// `Cache-Tag`); for URL adapters the tag→URL expander lists the file under each image extension
// and its thumbnail (the row, and so the extension, is gone by the time the purge runs).

export const mediaTag = (sha256: string) => `media:${sha256}`;
export const mediaTagPattern = /^media:([0-9a-f]{64})$/;

export function mediaPaths(sha256: string): string[] {
  return [...Object.keys(mimeForExt).map((ext) => `/media/${sha256}.${ext}`), `/media/${sha256}/thumb.webp`];
}

/** The library, with a CDN purge of a file after its deletion committed (never awaited by the delete). */
export function purgeMediaOnRemove(media: MediaLibrary, enqueuePurge: (tags: string[]) => Promise<unknown>): MediaLibrary {
  return {
    ...media,
    async remove(sha256, user) {
      const res = await media.remove(sha256, user);
      void enqueuePurge([mediaTag(sha256)]);
      return res;
    },
  };
}
