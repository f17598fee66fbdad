import { writeFileSync } from 'node:fs';

// The one output convention of every command (ARCHITECTURE.md, CLI contract): the result goes to
// stdout, as text or, with --json, as JSON; --out FILE also writes the JSON to FILE (with or
// without --json). Progress and human messages go to stderr so stdout stays machine-readable.

export interface OutputOptions {
  json?: boolean;
  out?: string;
}

export function emitResult(opts: OutputOptions, value: unknown, human?: string): void {
  const text = JSON.stringify(value, null, 2) + '\n';
  if (opts.out) writeFileSync(opts.out, text);
  if (opts.json) process.stdout.write(text);
  else if (human !== undefined && human !== '') process.stdout.write(human.endsWith('\n') ? human : `${human}\n`);
}

export function progress(message: string): void {
  process.stderr.write(`aidiary: ${message}\n`);
}
