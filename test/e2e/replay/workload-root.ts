import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { LocalWorkload } from './localize';

// A workload's filesystem: its root holds a symlink to each top-level entry of the image's root
// (the image is shared, never written), and the files and directories the platform provides are
// real entries in it. A symlinked directory on the way to one is first unfolded into a real
// directory of symlinks, so an upload lands in this workload's root only, as in a container layer.

function unfold(dir: string): void {
  const target = readlinkSync(dir);
  const st = statSync(target);
  unlinkSync(dir);
  mkdirSync(dir);
  chownSync(dir, st.uid, st.gid);
  chmodSync(dir, st.mode & 0o7777);
  for (const entry of readdirSync(target)) symlinkSync(join(target, entry), join(dir, entry));
}

/** Makes every directory from root down to `path` a real directory of this root. */
function realDirs(root: string, path: string): void {
  let current = root;
  for (const part of relative(root, path).split('/').filter(Boolean)) {
    current = join(current, part);
    if (!existsSync(current) && !isLink(current)) mkdirSync(current, { mode: 0o755 });
    else if (isLink(current)) unfold(current);
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

export function materialize(w: LocalWorkload): void {
  mkdirSync(w.root, { recursive: true, mode: 0o755 });
  chmodSync(w.root, 0o755);
  const image = w.declared.imageConfig?.root;
  if (image) for (const entry of readdirSync(image)) symlinkSync(join(image, entry), join(w.root, entry));
  // Mounts hide what the image has at their path.
  for (const d of w.dirs) {
    realDirs(w.root, dirname(d.path));
    if (isLink(d.path)) unlinkSync(d.path);
    mkdirSync(d.path, { recursive: true });
    chownSync(d.path, d.uid, d.gid);
    chmodSync(d.path, d.mode);
  }
  for (const f of w.files) {
    realDirs(w.root, dirname(f.path));
    if (isLink(f.path)) unlinkSync(f.path);
    writeFileSync(f.path, f.content);
    chownSync(f.path, f.uid, f.gid);
    chmodSync(f.path, f.mode);
  }
  // Every container has a writable /tmp and its working directory.
  const tmp = join(w.root, 'tmp');
  if (!existsSync(tmp)) {
    mkdirSync(tmp);
    chmodSync(tmp, 0o1777);
  }
  if (!existsSync(w.cwd)) {
    realDirs(w.root, dirname(w.cwd));
    mkdirSync(w.cwd, { mode: 0o755 });
  }
  if (w.workdirOwner) chownSync(w.cwd, w.workdirOwner.uid, w.workdirOwner.gid);
}
