// How every app process is started, on every target: the local runner
// (infra/local/app-processes.ts) runs `node <appNodeFlags> dist/app.mjs`, and the image's CMD
// (Dockerfile, which the Docker and Kubernetes stacks run unchanged) is `appCommand`
// (test/infra/stack-files.test.ts compares them).
//
// --heap-growing-percent=50: after a full GC V8 lets the old generation grow to 1.5 × what survived
// before the next one, instead of up to 4 × when collecting is fast and nothing presses it. After
// the bench's Zipf mix an app held ~220 MB RSS with ~40 MB of live JS heap; with the flag ~170 MB,
// at no measurable CPU per request. A smaller young generation (--max-semi-space-size=4) saved
// ~20 MB more but made an L1 hit cost 10-50 % more CPU (the hit path allocates ~14 KB per request),
// so it is not set.
export const appNodeFlags: readonly string[] = ['--heap-growing-percent=50'];

/** The app bundle, relative to the project root (the image's WORKDIR). */
export const appEntryFile = 'dist/app.mjs';

/** The app container's command (the image's CMD). */
export const appCommand: readonly string[] = ['node', ...appNodeFlags, appEntryFile];
