// The bad-input table: one row per input, each with the code and exit code it must get. The rows'
// names are the "input" column of docs/errors.md's "Bad input, tested" table (a test keeps both in sync).
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** Which shared fixture a case needs; the suite starts each at most once. */
export type Group = 'none' | 'server' | 'restore' | 'settings' | 'standby';

/** What a case produced: a CLI run's JSON error, or a library error mapped the CLI's way. */
export interface Outcome {
  readonly code: string | undefined;
  readonly exit: number | null;
  /** Everything printed (or the error message), searched for the password marker. */
  readonly text: string;
}

export interface BadInputCase {
  /** The input, as written in the docs table. */
  readonly input: string;
  readonly code: string;
  readonly exit: number;
  readonly group: Group;
}

/** Every path under `dirs` with, for files and symlinks (not followed), size and mtime: a refusal must not change any of it. */
export async function snapshot(...dirs: string[]): Promise<string[]> {
  return walkSnapshot(dirs, false);
}

/**
 * {@link snapshot} with every entry's mode and owner, every file's inode and ctime, and every
 * symlink's target: "byte for byte" without reading the bytes. Any write, truncate, chmod, chown,
 * link or rename sets an inode's ctime to now, and no system call sets it back, so a file whose
 * inode and ctime (in ns) are the same was not touched, not even rewritten with the same bytes
 * (hashing every file of several data directories took seconds per case).
 */
export async function contentSnapshot(...dirs: string[]): Promise<string[]> {
  return walkSnapshot(dirs, true);
}

async function walkSnapshot(dirs: string[], contents: boolean): Promise<string[]> {
  const out: string[] = [];
  const walk = async (root: string, p: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(p, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = join(p, entry.name);
      const st = await lstat(full, { bigint: true }).catch(() => undefined);
      const target = contents && entry.isSymbolicLink() ? ` -> ${await readlink(full).catch(() => '?')}` : '';
      const owner = contents && st ? ` ${st.mode.toString(8)} ${st.uid}:${st.gid}` : '';
      if (entry.isDirectory()) {
        // A directory's own ctime moves with every name made or removed in it (some cases add and
        // remove their input there): its entries are compared one by one instead.
        out.push(`${root}:${relative(root, full)}/${owner}`);
        await walk(root, full);
      } else {
        const inode = contents && st ? ` ino ${st.ino} ctime ${st.ctimeNs}${target}` : '';
        out.push(`${root}:${relative(root, full)} ${st?.size ?? '-'} ${st?.mtimeNs ?? '-'}${owner}${inode}`);
      }
    }
  };
  for (const dir of dirs) await walk(dir, dir);
  return out.sort();
}

/** Reads the "Bad input, tested" table of docs/errors.md: input → code → exit. */
export function docsTable(markdown: string): { input: string; code: string; exit: number }[] {
  const start = markdown.indexOf('## Bad input, tested');
  if (start < 0) throw new Error('docs/errors.md has no "## Bad input, tested" section');
  const next = markdown.indexOf('\n## ', start + 1);
  const section = markdown.slice(start, next < 0 ? undefined : next);
  const rows: { input: string; code: string; exit: number }[] = [];
  for (const line of section.split('\n')) {
    const m = /^\| (.+?) \| `([A-Z_]+)` \| (\d+) \|/.exec(line);
    if (m) rows.push({ input: m[1]!.replace(/\\\|/g, '|'), code: m[2]!, exit: Number(m[3]) });
  }
  return rows;
}
