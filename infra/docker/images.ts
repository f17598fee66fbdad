// Public images the staging stack pulls. Pinned by minor version so `pulumi up` is repeatable.
// PostgreSQL stays on major 16 (the CloudNativePG operand's major too), at its newest minor, and
// on Debian bookworm: the glibc that built existing data volumes' text indexes stays the same.
export const postgresImage = 'postgres:16.15-bookworm';
export const redisImage = 'redis:7.4-alpine';
