// Commands of the operator contract that other engineers are building (drill, bench, backup,
// restore): a clear message and exit 2 until they land.
export function notImplemented(command: string): Promise<number> {
  process.stderr.write(`aidiary ${command}: not implemented yet\n`);
  return Promise.resolve(2);
}
