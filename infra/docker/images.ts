// Public images the staging stack pulls. Pinned by minor version so `pulumi up` is repeatable.
export const postgresImage = 'postgres:16-bookworm';
export const redisImage = 'redis:7.4-alpine';
