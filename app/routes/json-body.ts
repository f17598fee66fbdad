import type { FastifyInstance } from 'fastify';
import { httpError } from '../errors';

// Every `application/json` body is depth-checked on its raw text before it is parsed, so nothing
// downstream (the Idempotency-Key signature, zod, a logger) ever walks an unbounded tree: a body
// of 100,000 nested arrays would overflow the stack of any recursive walk and answer 500. Size
// is bounded separately by fastify's bodyLimit (1 MB, less on most routes) before this runs.
// Parsing itself stays fastify's default (secure-json-parse: refuses __proto__/constructor
// poisoning).

/** Deeper than any body the API accepts (a post is 2 levels: the object and its tag list). */
export const maxJsonDepth = 32;

/**
 * True when `text` opens more than `max` arrays/objects at once. Brackets inside strings are
 * text, so strings are skipped (with their escapes). Hand-rolled: one linear pass over the raw
 * text with no allocation; the JSON libraries at hand (secure-json-parse, JSON.parse) have no
 * depth option, and a check after parsing would already hold the whole tree.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

export function registerBoundedJsonParser(app: FastifyInstance, max = maxJsonDepth): void {
  const parse = app.getDefaultJsonParser(app.initialConfig.onProtoPoisoning ?? 'error', app.initialConfig.onConstructorPoisoning ?? 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (nestsDeeperThan(text, max)) {
      done(httpError('bad_request', `The JSON body nests arrays/objects deeper than ${max} levels; send a flatter body.`), undefined);
      return;
    }
    parse(request, text, done);
  });
}
