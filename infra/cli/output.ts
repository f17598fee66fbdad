import { writeFileSync } from 'node:fs';

// Output conventions of DESIGN.md §3: `--json` prints JSON on stdout; `--out FILE` also writes it.
// Progress and human messages go to stderr so stdout stays machine-readable.

export function emitJson(value: unknown, outFile?: string): void {
  const text = JSON.stringify(value, null, 2) + '\n';
  process.stdout.write(text);
  if (outFile) writeFileSync(outFile, text);
}

export function progress(message: string): void {
  process.stderr.write(`aidiary: ${message}\n`);
}

/** Usage errors exit 2; everything else that fails exits 1. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function intOption(name: string, value: string | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name}: expected an integer ≥ ${min}, got "${value}"`);
  return n;
}
