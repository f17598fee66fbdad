import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { CommandExecutor } from './cluster-driver';

const execFileAsync = promisify(execFile);

/** Runs a real command (docker, kubectl) without a shell; failures carry its stderr. */
export function systemExecutor(timeoutMs = 120_000): CommandExecutor {
  return async (command, args) => {
    try {
      const { stdout } = await execFileAsync(command, args, { timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024 });
      return { stdout };
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`${command} ${args[0] ?? ''} failed: ${(e.stderr || e.message).trim()}`, { cause: err });
    }
  };
}
