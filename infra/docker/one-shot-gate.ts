/**
 * One-shot containers run with `attach` and `mustRun: false`: the provider waits for the exit and
 * records a failed exit code instead of failing the update. This check, applied to their
 * `exitCode`, turns a failure into an error for every resource that takes the result as input,
 * so nothing after a failed step changes.
 *
 * The failed run stays in the state with its exit code, and the next `pulumi up` would not run it
 * again (its inputs did not change): the error names the command that re-runs it once the cause
 * is fixed.
 */
export function requireExitZero(step: string, containerName: string, exitCode: number, urn: string): string {
  if (exitCode !== 0) {
    throw new Error(
      `${step}: ${containerName} exited with ${exitCode}; see \`docker logs ${containerName}\`. Later tiers were left unchanged. `
      + `Once the cause is fixed, run it again with \`pulumi up --replace '${urn}'\`.`,
    );
  }
  return containerName;
}
