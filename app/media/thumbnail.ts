import sharp from 'sharp';

// Thumbnails (made by the background job, app/jobs/): 320 px wide WebP, never enlarged; an
// animated GIF gives its first frame. sharp's default pixel limit refuses decompression bombs.

// No libvips operation cache: each image is processed once, and the app pod's memory is bounded.
sharp.cache(false);

export const thumbnailWidth = 320;
export const thumbnailName = 'thumb.webp';
export const thumbnailKey = (sha256: string) => `${sha256}/${thumbnailName}`;

export async function makeThumbnail(original: Buffer): Promise<Buffer> {
  return sharp(original).rotate().resize({ width: thumbnailWidth, withoutEnlargement: true }).webp({ quality: 78 }).toBuffer();
}

/** Width and height, or null when the image cannot be decoded. */
export async function imageSize(bytes: Buffer): Promise<{ width: number; height: number } | null> {
  try {
    const meta = await sharp(bytes).metadata();
    return meta.width && meta.height ? { width: meta.width, height: meta.height } : null;
  } catch {
    return null;
  }
}
