import type Sharp from 'sharp';
import { UnrecoverableError } from 'bullmq';

// Thumbnails (made by the background job, app/jobs/): 320 px wide WebP, never enlarged; an
// animated GIF gives its first frame. Memory is bounded three ways: uploads above the pixel cap
// are refused from their header (media-library.ts), the decode here refuses the same cap again
// (`limitInputPixels`: a file stored before the cap, or under a higher one), and libvips runs one
// thread with no operation cache, so one job holds at most one decoded image (the job workers
// run one job at a time). 40 megapixels of 8-bit RGBA is 160 MB; the app pod's limit is 512 MiB.

// Loaded on first use: libvips adds 6-8 MB to the RSS of every app that imports it, and most
// apps never make a thumbnail or read an upload's size.
let loaded: Promise<typeof Sharp> | null = null;
function loadSharp(): Promise<typeof Sharp> {
  loaded ??= import('sharp').then(({ default: sharp }) => {
    sharp.cache(false);
    sharp.concurrency(1);
    return sharp;
  });
  return loaded;
}

export const thumbnailWidth = 320;
export const thumbnailName = 'thumb.webp';
export const thumbnailKey = (sha256: string) => `${sha256}/${thumbnailName}`;

/**
 * The thumbnail of `original`, decoding at most `maxPixels`. An image above it can never succeed:
 * BullMQ's UnrecoverableError fails the job at once instead of retrying it.
 */
export async function makeThumbnail(original: Buffer, maxPixels: number): Promise<Buffer> {
  try {
    const sharp = await loadSharp();
    return await sharp(original, { limitInputPixels: maxPixels })
      .rotate().resize({ width: thumbnailWidth, withoutEnlargement: true }).webp({ quality: 78 }).toBuffer();
  } catch (err) {
    if (/exceeds pixel limit/i.test((err as Error).message ?? '')) {
      throw new UnrecoverableError(`Input image exceeds the pixel limit of ${maxPixels} pixels; no thumbnail is made.`);
    }
    throw err;
  }
}

/**
 * Width and height from the image's header (no pixel is decoded), or null when it cannot be read.
 * No pixel limit here: the caller compares the size with its cap and names both.
 */
export async function imageSize(bytes: Buffer): Promise<{ width: number; height: number } | null> {
  try {
    const sharp = await loadSharp();
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    return meta.width && meta.height ? { width: meta.width, height: meta.height } : null;
  } catch {
    return null;
  }
}

/** Megapixels for messages: 144, 0.3, 12.35. */
export function megapixels(pixels: number): string {
  return String(Number((pixels / 1_000_000).toFixed(2)));
}
