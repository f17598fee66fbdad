import { fileTypeFromBuffer } from 'file-type';

// What an upload really is, decided from its bytes (magic numbers, via `file-type`), never from
// its name or the client's Content-Type: a `.png` holding GIF bytes is a GIF, and a text file named
// `.jpg` is refused.

export const acceptedImageTypes = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/webp': 'webp',
  'image/gif': 'gif',
} as const;

export type ImageMime = keyof typeof acceptedImageTypes;
export type ImageExt = (typeof acceptedImageTypes)[ImageMime];

export const mimeForExt: Record<ImageExt, ImageMime> = { jpg: 'image/jpeg', png: 'image/png', webp: 'image/webp', gif: 'image/gif' };

export type DetectedType =
  | { accepted: true; mime: ImageMime; ext: ImageExt }
  | { accepted: false; detected: string | null };

export async function detectImageType(bytes: Uint8Array): Promise<DetectedType> {
  const found = await fileTypeFromBuffer(bytes);
  if (found && Object.hasOwn(acceptedImageTypes, found.mime)) {
    const mime = found.mime as ImageMime;
    return { accepted: true, mime, ext: acceptedImageTypes[mime] };
  }
  return { accepted: false, detected: found?.mime ?? null };
}
