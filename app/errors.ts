// The HTTP error catalog: every error a client can see has a code, a status and a message here.
// Routes throw `httpError('code', detail?)`; the error handler renders `{error: {code, message}}`
// (JSON API) or the themed error page (HTML).

export const errorCatalog = {
  bad_request: { status: 400, message: 'The request is malformed.' },
  invalid_json: { status: 400, message: 'The body is not valid JSON.' },
  unauthenticated: { status: 401, message: 'Log in first.' },
  invalid_credentials: { status: 401, message: 'Wrong username or password.' },
  forbidden: { status: 403, message: 'Your role does not allow this.' },
  csrf: { status: 403, message: 'Missing or wrong CSRF token; send the X-CSRF-Token header.' },
  not_found: { status: 404, message: 'Not found.' },
  conflict: { status: 409, message: 'That conflicts with existing data.' },
  payload_too_large: { status: 413, message: 'The body is too large.' },
  image_too_large: { status: 413, message: 'The image has more pixels than the upload limit.' },
  unsupported_media_type: { status: 415, message: 'Send JSON (Content-Type: application/json).' },
  invalid_field: { status: 422, message: 'A field is invalid.' },
  rate_limited: { status: 429, message: 'Too many attempts; wait a minute and try again.' },
  sessions_unavailable: { status: 503, message: 'Sign-in is temporarily unavailable (session store down); public pages still work.' },
  db_unavailable: { status: 503, message: 'The database is temporarily unavailable; try again shortly.' },
  draining: { status: 503, message: 'This server is shutting down.' },
  internal: { status: 500, message: 'Internal error.' },
} as const;

export type ErrorCode = keyof typeof errorCatalog;

export class HttpError extends Error {
  readonly status: number;
  constructor(readonly code: ErrorCode, message?: string, options?: { cause?: unknown; details?: unknown }) {
    super(message ?? errorCatalog[code].message, options);
    this.name = 'HttpError';
    this.status = errorCatalog[code].status;
    this.details = options?.details;
  }
  readonly details?: unknown;
}

export function httpError(code: ErrorCode, message?: string, options?: { cause?: unknown; details?: unknown }): HttpError {
  return new HttpError(code, message, options);
}
