/**
 * One-shot containers run with `attach` and `mustRun: false`: the provider waits for the exit and
 * records a failed exit code instead of failing the update. This check, applied to their
 * `exitCode`, turns a failure into an error for every resource that takes the result as input,
 * so nothing after a failed step changes.
 */
export function requireExitZero(step: string, containerName: string, exitCode: number): string {
  if (exitCode !== 0) {
    throw new Error(`${step}: ${containerName} exited with ${exitCode}; see \`docker logs ${containerName}\`. Later tiers were left unchanged.`);
  }
  return containerName;
}
