// How every app process is started, on every target: the local runner
// (infra/local/app-processes.ts) runs `node <appNodeFlags> dist/app.mjs`, and the image's CMD
// (Dockerfile, which the Docker and Kubernetes stacks run unchanged) is `appCommand`
// (test/infra/stack-files.test.ts compares them).
//
// --heap-growing-percent=50: after a full GC V8 lets the old generation grow to 1.5 × what survived
// before the next one, instead of up to 4 × when collecting is fast and nothing presses it. After
// the bench's Zipf mix an app held ~220 MB RSS with ~40 MB of live JS heap; with the flag ~170 MB,
// at no measurable CPU per request.
// --max-semi-space-size=4 (MiB; V8's default is 16): a young generation of 3 × 4 MiB instead of
// 3 × 16. Measured at one app, L1 hits interleaved with and without it: 33 vs 35 µs of CPU per
// request and ~18 MB less RSS. Before L1 hits skipped fastify (app/hot-path.ts) a hit allocated
// ~14 KB and the smaller young generation cost it 10-50 % more CPU; now it costs nothing measurable.
export const appNodeFlags: readonly string[] = ['--heap-growing-percent=50', '--max-semi-space-size=4'];

/** The app bundle, relative to the project root (the image's WORKDIR). */
export const appEntryFile = 'dist/app.mjs';

/** The app container's command (the image's CMD). */
export const appCommand: readonly string[] = ['node', ...appNodeFlags, appEntryFile];
