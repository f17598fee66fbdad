import { readFileSync } from 'node:fs';
import { UsageError } from './exit-codes';

// A secret typed by an operator reaches a command through a file or stdin, never argv: argv shows
// in `ps`, in shell history and in a Kubernetes exec's audit log.

const maxBytes = 4096;

/** The single line of `text` (one trailing line ending allowed); `from` names the source in errors. */
export function oneLine(text: string, from: string): string {
  const value = text.replace(/\r?\n$/, '');
  if (/[\r\n]/.test(value)) throw new UsageError(`${from}: expected one line, found several`);
  if (value.length === 0) throw new UsageError(`${from}: empty; it must hold the new password on one line`);
  return value;
}

export function readSecretFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--password-file: cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return oneLine(text, `--password-file ${path}`);
}

/** Reads stdin to its end (a pipe or a redirected file); refuses a terminal, where input would echo. */
export async function readSecretStdin(stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (stdin.isTTY) {
    throw new UsageError('stdin is a terminal; pipe the password in (e.g. `read -rs PW; printf \'%s\\n\' "$PW" | aidiary admin reset-password`) or use --password-file FILE');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > maxBytes) throw new UsageError(`stdin: more than ${maxBytes} bytes; expected one line holding the password`);
    chunks.push(buf);
  }
  return oneLine(Buffer.concat(chunks).toString('utf8'), 'stdin');
}
