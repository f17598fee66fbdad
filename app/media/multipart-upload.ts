import type { FastifyInstance, FastifyRequest } from 'fastify';
import fastifyMultipart, { type MultipartFile } from '@fastify/multipart';
import { httpError } from '../errors';

// Parses one upload (`multipart/form-data`, a `file` field plus small text fields such as `_csrf`)
// into request.body before the preHandler hooks run, so the session plugin's CSRF check sees the
// form's `_csrf` field. Registered only in the media upload scopes. The file is held in memory:
// it is bounded by the upload limit and goes to the database as one value anyway.

export interface UploadedFile { data: Buffer; filename: string }

export async function registerUploadParser(scope: FastifyInstance, maxBytes: number): Promise<void> {
  const limitText = maxBytes >= 1024 * 1024 ? `${Math.round(maxBytes / 1024 / 1024)} MB` : `${Math.round(maxBytes / 1024)} KB`;
  await scope.register(fastifyMultipart, {
    attachFieldsToBody: 'keyValues',
    limits: { fileSize: maxBytes, files: 1, fields: 10, fieldSize: 4096, parts: 12 },
    async onFile(part: MultipartFile) {
      try {
        const data = await part.toBuffer();
        (part as unknown as { value: UploadedFile }).value = { data, filename: part.filename ?? '' };
      } catch (err) {
        if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
          throw httpError('payload_too_large', `The file is larger than the ${limitText} limit.`, { cause: err });
        }
        throw err;
      }
    },
  });
}

/** The `file` field of a parsed upload: 415 for a request that is not multipart, 422 without a file. */
export function uploadedFile(request: FastifyRequest): UploadedFile {
  if (!request.isMultipart()) {
    throw httpError('unsupported_media_type', 'Send the image as multipart/form-data in a field named "file".');
  }
  const file = (request.body as Record<string, unknown> | null)?.file as Partial<UploadedFile> | undefined;
  if (!file || !Buffer.isBuffer(file.data)) throw httpError('invalid_field', 'file: choose an image to upload.');
  return { data: file.data, filename: file.filename ?? '' };
}
