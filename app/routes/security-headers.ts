// Response headers every answer carries (HTML pages above all, whether rendered, from L1/L2 or
// from nginx's micro-cache, which stores them with the page): browsers must not guess a type
// other than the one sent (an upload or a JSON answer read as HTML), and a link followed off
// the site sends the origin only, never the path (admin URLs, search terms).
// Set in server.ts's first onRequest hook, so error pages and cache hits get them too.

export const securityHeaders: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'strict-origin-when-cross-origin',
};
