import { readFileSync } from 'node:fs';

// A parser for the subset of Dockerfile syntax the project's Dockerfile uses, so the stack replay
// assembles the images from the Dockerfile itself: a change there is what the replay follows.
// Hand-rolled because the npm Dockerfile parsers only tokenize; the replay needs the build
// semantics (stages, COPY --from, inherited ENTRYPOINT), and anything outside the subset is
// refused with the line number rather than guessed at.

export type Instruction =
  | { op: 'WORKDIR'; line: number; path: string }
  | { op: 'COPY'; line: number; from?: string; sources: string[]; dest: string }
  | { op: 'RUN'; line: number; command: string }
  | { op: 'ENV'; line: number; vars: Record<string, string> }
  | { op: 'USER'; line: number; user: string }
  | { op: 'EXPOSE'; line: number; ports: string[] }
  | { op: 'CMD' | 'ENTRYPOINT'; line: number; argv: string[] };

export interface Stage {
  name: string;
  /** The base image reference after ARG substitution, e.g. node:20-bookworm-slim. */
  base: string;
  line: number;
  instructions: Instruction[];
}

export interface Dockerfile {
  file: string;
  stages: Stage[];
  stage(name: string): Stage;
}

export class DockerfileError extends Error {
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = 'DockerfileError';
  }
}

/** Instructions that only add image metadata the replay does not need; everything else unknown is refused. */
const refused = ['ADD', 'VOLUME', 'SHELL', 'HEALTHCHECK', 'ONBUILD', 'STOPSIGNAL', 'LABEL', 'MAINTAINER'];

function logicalLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let current = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const trimmed = raw.trim();
    if (!current && (trimmed === '' || trimmed.startsWith('#'))) return;
    if (current && trimmed.startsWith('#')) return; // comment inside a continued instruction
    if (!current) start = i + 1;
    if (trimmed.endsWith('\\')) {
      current += `${trimmed.slice(0, -1)} `;
      return;
    }
    current += trimmed;
    out.push({ line: start, text: current });
    current = '';
  });
  return out;
}

function jsonArgv(file: string, line: number, op: string, rest: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(rest);
  } catch {
    throw new DockerfileError(file, line, `${op} in shell form is not interpreted by the stack replay; use the exec form ["cmd", "arg"]`);
  }
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) throw new DockerfileError(file, line, `${op}: expected a JSON array of strings`);
  return parsed;
}

function substitute(file: string, line: number, value: string, args: Record<string, string>): string {
  return value.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => {
    const name = (a ?? b)!;
    if (!(name in args)) throw new DockerfileError(file, line, `\${${name}} is not a global ARG with a default`);
    return args[name];
  });
}

function noVariables(file: string, line: number, op: string, value: string): string {
  if (value.includes('$')) throw new DockerfileError(file, line, `${op}: variable substitution is not interpreted by the stack replay`);
  return value;
}

export function parseDockerfile(file: string, text = readFileSync(file, 'utf8')): Dockerfile {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const { line, text: l } of logicalLines(text)) {
    const m = /^(\S+)\s*(.*)$/.exec(l)!;
    const op = m[1].toUpperCase();
    const rest = m[2].trim();
    const stage = stages[stages.length - 1];
    if (op === 'ARG') {
      if (stage) throw new DockerfileError(file, line, 'ARG inside a stage is not interpreted by the stack replay');
      const a = /^(\w+)(?:=(.*))?$/.exec(rest);
      if (!a || a[2] === undefined) throw new DockerfileError(file, line, 'ARG without a default is not interpreted by the stack replay');
      globalArgs[a[1]] = a[2];
      continue;
    }
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (!f || f[1].startsWith('--')) throw new DockerfileError(file, line, `FROM ${rest}: only "FROM image [AS name]" is interpreted by the stack replay`);
      const base = substitute(file, line, f[1], globalArgs);
      if (stages.some((s) => s.name === base)) throw new DockerfileError(file, line, `FROM ${base}: a stage as base image is not interpreted by the stack replay`);
      stages.push({ name: f[2] ?? String(stages.length), base, line, instructions: [] });
      continue;
    }
    if (!stage) throw new DockerfileError(file, line, `${op} before the first FROM`);
    switch (op) {
      case 'WORKDIR':
        stage.instructions.push({ op, line, path: noVariables(file, line, op, rest) });
        break;
      case 'COPY': {
        if (rest.startsWith('[')) throw new DockerfileError(file, line, 'COPY in JSON form is not interpreted by the stack replay');
        const words = noVariables(file, line, op, rest).split(/\s+/);
        let from: string | undefined;
        while (words[0]?.startsWith('--')) {
          const flag = words.shift()!;
          const fm = /^--from=(\S+)$/.exec(flag);
          if (!fm) throw new DockerfileError(file, line, `COPY ${flag} is not interpreted by the stack replay`);
          from = fm[1];
        }
        if (words.length < 2) throw new DockerfileError(file, line, 'COPY needs at least one source and a destination');
        stage.instructions.push({ op, line, from, sources: words.slice(0, -1), dest: words[words.length - 1] });
        break;
      }
      case 'RUN':
        if (rest.startsWith('[') || rest.startsWith('--')) throw new DockerfileError(file, line, 'RUN in JSON form or with flags is not interpreted by the stack replay');
        if (/<<-?\s*\w/.test(rest)) throw new DockerfileError(file, line, 'RUN with a here-document is not interpreted by the stack replay');
        stage.instructions.push({ op, line, command: rest });
        break;
      case 'ENV': {
        const vars: Record<string, string> = {};
        const pairs = noVariables(file, line, op, rest).split(/\s+/);
        if (!pairs.every((p) => /^\w+=\S*$/.test(p))) throw new DockerfileError(file, line, 'ENV: only unquoted KEY=VALUE pairs are interpreted by the stack replay');
        for (const p of pairs) vars[p.slice(0, p.indexOf('='))] = p.slice(p.indexOf('=') + 1);
        stage.instructions.push({ op, line, vars });
        break;
      }
      case 'USER':
        stage.instructions.push({ op, line, user: noVariables(file, line, op, rest) });
        break;
      case 'EXPOSE':
        stage.instructions.push({ op, line, ports: rest.split(/\s+/) });
        break;
      case 'CMD':
      case 'ENTRYPOINT':
        stage.instructions.push({ op, line, argv: jsonArgv(file, line, op, rest) });
        break;
      default:
        throw new DockerfileError(file, line, `${op} is not interpreted by the stack replay (test/e2e/replay/dockerfile.ts)${refused.includes(op) ? '' : ': unknown instruction'}`);
    }
  }
  return {
    file,
    stages,
    stage(name) {
      const s = stages.find((x) => x.name === name);
      if (!s) throw new Error(`${file}: no stage named "${name}" (stages: ${stages.map((x) => x.name).join(', ')})`);
      return s;
    },
  };
}
