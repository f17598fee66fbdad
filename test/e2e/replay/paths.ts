import { posix } from 'node:path';

/** A container path under a temp root: /run/x → <root>/run/x. */
export function underRoot(root: string, containerPath: string): string {
  if (!containerPath.startsWith('/')) throw new Error(`expected an absolute container path, got "${containerPath}"`);
  return posix.join(root, posix.normalize(containerPath));
}

/**
 * Paths that stay as they are: kernel-provided files (/dev/stderr, /dev/null) and the base image's
 * operating system programs and libraries (/bin/sh), which are this machine's.
 */
export function isMachinePath(p: string): boolean {
  return /^\/(dev|proc|sys|bin|sbin|lib|lib64|usr\/bin|usr\/sbin|usr\/lib|usr\/lib64)(\/|$)/.test(p);
}
