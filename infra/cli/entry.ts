import { main } from './main';

// The entry point bundled as dist/cli.mjs. Importing it runs the CLI once with this process's
// arguments, so the images' one-shot steps (`node dist/cli.mjs migrate`) and bin/aidiary.mjs
// (which only builds dist/ first when the sources are present) share one code path. The exit code
// goes to process.exitCode so pending output is flushed before the process ends.
process.exitCode = await main(process.argv.slice(2));
