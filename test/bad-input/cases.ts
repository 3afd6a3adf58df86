// The bad-input table: one row per input, each with the code and exit code it must get. The rows'
// names are the "input" column of docs/errors.md's "Bad input, tested" table (a test keeps both in sync).
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
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

/** {@link snapshot} with every file's SHA-256 and every symlink's target and every mode: "byte for byte". */
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
      const st = await lstat(full).catch(() => undefined);
      const extra = contents && st ? ` ${st.mode.toString(8)} ${st.uid}:${st.gid}${await fingerprint(full, entry.isSymbolicLink(), entry.isFile())}` : '';
      if (entry.isDirectory()) {
        out.push(`${root}:${relative(root, full)}/${extra}`);
        await walk(root, full);
      } else {
        out.push(`${root}:${relative(root, full)} ${st?.size ?? '-'} ${st?.mtimeMs ?? '-'}${extra}`);
      }
    }
  };
  for (const dir of dirs) await walk(dir, dir);
  return out.sort();
}

async function fingerprint(path: string, symlink: boolean, file: boolean): Promise<string> {
  if (symlink) return ` -> ${await readlink(path).catch(() => '?')}`;
  if (!file) return '';
  const body = await readFile(path).catch(() => undefined);
  return body ? ` ${createHash('sha256').update(body).digest('hex')}` : ' unreadable';
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
