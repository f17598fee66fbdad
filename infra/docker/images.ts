// Public images the staging stack pulls. Pinned by minor version so `pulumi up` is repeatable.
// PostgreSQL stays on major 16 (the CloudNativePG operand's major too), at its newest minor, and
// on Debian bookworm: the glibc that built existing data volumes' text indexes stays the same.
export const postgresImage = 'postgres:16.15-bookworm';
export const redisImage = 'redis:7.4-alpine';
// Monitoring (config key `monitoring: prometheus`, infra/docker/monitoring.ts). Prometheus stays
// on major 2, the major of the promtool that checks its config in the tests (Debian's).
export const prometheusImage = 'prom/prometheus:v2.55.1';
export const postgresExporterImage = 'quay.io/prometheuscommunity/postgres-exporter:v0.16.0';
// The alpine build: it has wget for the healthcheck (the default image is FROM scratch).
export const redisExporterImage = 'oliver006/redis_exporter:v1.67.0-alpine';
export { nginxExporterImage } from '../kubernetes/monitoring';
