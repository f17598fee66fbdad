import { loadConfig, ConfigError, type AppConfig } from './config';
import { createDeps, closeDeps } from './create-deps';
import { buildServer, startDraining } from './server';
import { startControlServer } from './control-server';
import { isClusterPageCache } from './cache/page-cache';

// The only file that listens. Shutdown on SIGTERM/SIGINT (invariant 1): readiness off at once,
// keep serving for drainMs so the load balancer notices, then close the listener (in-flight
// requests finish), drop idle keep-alive sockets, release pools and clients, exit 0. A draining
// app never answers 503 (return503OnClosing: false in server.ts): nginx retries a removed app on
// the connect error, and a 503 through nginx always means the app's own "dependency down".

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`aidiary: configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }

  const deps = await createDeps(config);
  const log = deps.logger;
  process.on('unhandledRejection', (reason) => {
    log.fatal({ err: reason }, 'unhandled promise rejection; exiting');
    process.exit(1);
  });

  const app = await buildServer(deps);
  await app.ready();
  const server = app.server;
  // Longer than nginx's upstream keep-alive, so nginx (not the app) closes idle connections and
  // never sends a request on a socket the app is closing.
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  server.headersTimeout = config.keepAliveTimeoutMs + 5000;
  server.requestTimeout = 30_000;

  await app.listen({ host: config.host, port: config.port });
  log.info({ host: config.host, port: config.port, app: config.appName }, 'listening');
  // Loopback-only cache control (bench, tests); cache warming fetches pages through the routes.
  const control = config.controlPort > 0 ? await startControlServer(deps, config.controlPort) : null;
  if (isClusterPageCache(deps.pageCache)) {
    deps.pageCache.setWarmFetcher((path) => app.inject({ method: 'GET', url: path }));
  }
  // Job workers once this app can serve (a warm job fetches through its routes); the start warm is
  // a deduplicated job, so N apps starting together warm once.
  deps.jobs?.start();
  if (isClusterPageCache(deps.pageCache)) void (deps.jobs ? deps.jobs.enqueueWarm() : deps.pageCache.warm());

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, drainMs: config.drainMs }, 'draining');
    startDraining(app);
    await new Promise((r) => setTimeout(r, config.drainMs));
    // app.close() stops accepting and resolves once in-flight requests are done; idle keep-alive
    // sockets would hold it open, so close them as soon as the listener is closing.
    const closing = app.close();
    server.closeIdleConnections();
    const forceTimer = setTimeout(() => {
      log.warn('in-flight requests did not finish within 10 s; closing their sockets');
      server.closeAllConnections();
    }, 10_000);
    forceTimer.unref();
    try {
      await closing;
    } catch (err) {
      log.error({ err }, 'error while closing the server');
    }
    await control?.close().catch(() => {});
    log.info('http server closed; closing pools and clients');
    await closeDeps(deps);
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`aidiary: failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
