// Public images the staging stack pulls. Pinned by minor version so `pulumi up` is repeatable;
// PostgreSQL stays on major 16 (the CloudNativePG operand's major too), at its newest minor.
export const postgresImage = 'postgres:16.15-trixie';
export const redisImage = 'redis:7.4-alpine';
