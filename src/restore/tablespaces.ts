import { chown, cp, lchown, lstat, mkdir, open, readdir, readlink, realpath, rename, rm, rmdir, stat, symlink, unlink } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { BackupError } from '../errors.js';
import { fsyncDirectory } from '../util/durable-fs.js';

/** A tablespace as the restored server will find it: `pg_tblspc/<oid>` → `path`. */
export interface TablespaceLink {
  readonly oid: string;
  /** Where the tablespace lives after the restore (the map's path, or its mapping). */
  readonly path: string;
}

/**
 * What the restore does to one `pg_tblspc/<oid>`, decided before anything is changed:
 * - `keep`: already a symlink to the location;
 * - `link`: nothing there, or an empty directory: make the symlink;
 * - `relink`: a symlink to another place (the old location): point it at the new one;
 * - `relocate`: a real directory holding the tablespace's data (a copy that followed the
 *   symlink, as `tar --dereference` and many backup programs do): move its entries into the
 *   location, which must be empty, then make the symlink.
 */
export type TablespaceStep =
  | { readonly kind: 'keep' | 'link'; readonly link: TablespaceLink; readonly emptyDirectory?: boolean }
  | { readonly kind: 'relink'; readonly link: TablespaceLink; readonly previous: string }
  | { readonly kind: 'relocate'; readonly link: TablespaceLink; readonly entries: readonly string[]; readonly crossDevice: boolean };

/**
 * Applies `mapping` (old location → new) to a tablespace_map, whose lines are `<oid> <path>`
 * (`\n`, `\r` and on 14+ `\` escaped in the path; a mapping names the path as written there).
 * @throws BackupError `INVALID_OPTION` for a mapping that names no tablespace of the backup.
 */
export function mapTablespaces(map: string, mapping: Readonly<Record<string, string>>): { text: string; links: TablespaceLink[] } {
  const links: TablespaceLink[] = [];
  const lines = map.split('\n').filter((l) => l !== '');
  const out = lines.map((line) => {
    const space = line.indexOf(' ');
    const oid = line.slice(0, space);
    const path = line.slice(space + 1);
    const target = mapping[path] ?? path;
    links.push({ oid, path: target });
    return `${oid} ${target}`;
  });
  for (const old of Object.keys(mapping)) {
    if (!lines.some((l) => l.slice(l.indexOf(' ') + 1) === old)) {
      throw new BackupError('INVALID_OPTION', `--tablespace-mapping names ${old}, which is not a tablespace of this backup.`, { details: { option: 'tablespaceMapping' } });
    }
  }
  return { text: out.length ? `${out.join('\n')}\n` : '', links };
}

const hasVersionDirectory = (names: readonly string[], major: number): boolean => names.some((n) => n.startsWith(`PG_${major}_`));

function missingData(link: TablespaceLink, major: number, where: string): BackupError {
  return new BackupError(
    'RESTORE_CONFLICT',
    `Tablespace ${link.oid}'s data is missing: ${where} holds no PG_${major}_* directory. Restore the tablespace's copy into ${link.path} (or map it elsewhere with --tablespace-mapping OLD=NEW), then run the restore again.`,
    { details: { tablespace: link.oid, path: link.path } },
  );
}

/**
 * Decides, without changing anything, what to do with each tablespace, and refuses when the
 * restore would have to delete or mix data: a real directory is only ever moved into an empty
 * location, and a location must end up holding the tablespace's `PG_<major>_*` directory.
 * @throws BackupError `INVALID_OPTION` (the location does not exist), `RESTORE_CONFLICT`.
 */
export async function planTablespaces(pgdata: string, links: readonly TablespaceLink[], major: number): Promise<TablespaceStep[]> {
  const steps: TablespaceStep[] = [];
  for (const link of links) {
    const target = await stat(link.path).catch(() => undefined);
    if (!target?.isDirectory()) {
      throw new BackupError('INVALID_OPTION', `Tablespace ${link.oid} needs the directory ${link.path}, which does not exist. Restore it there, or map it with --tablespace-mapping OLD=NEW.`, {
        details: { tablespace: link.oid, path: link.path },
      });
    }
    const targetEntries = await readdir(link.path);
    const here = join(pgdata, 'pg_tblspc', link.oid);
    const current = await lstat(here).catch(() => undefined);
    if (current?.isDirectory()) {
      const entries = await readdir(here);
      if (entries.length === 0) {
        if (!hasVersionDirectory(targetEntries, major)) throw missingData(link, major, link.path);
        steps.push({ kind: 'link', link, emptyDirectory: true });
        continue;
      }
      const [from, to] = await Promise.all([realpath(here), realpath(link.path)]);
      if (to === from || to.startsWith(from + sep) || from.startsWith(to + sep)) {
        throw new BackupError('RESTORE_CONFLICT', `Tablespace ${link.oid}'s location ${link.path} overlaps pg_tblspc/${link.oid} in the data directory. Map it to a directory outside ${pgdata}.`, {
          details: { tablespace: link.oid, path: link.path },
        });
      }
      if (targetEntries.length > 0) {
        throw new BackupError(
          'RESTORE_CONFLICT',
          `Tablespace ${link.oid}'s data is inside the copy at pg_tblspc/${link.oid} (the copy followed the symlink), and it must be moved to ${link.path}, which is not empty (it may be a live server's tablespace). Nothing was changed. Give --tablespace-mapping ${link.path}=NEW with an empty directory NEW owned by the server's user, and the restore moves it there.`,
          { details: { tablespace: link.oid, path: link.path, entries: targetEntries.slice(0, 5) } },
        );
      }
      if (!hasVersionDirectory(entries, major)) throw missingData(link, major, `pg_tblspc/${link.oid}`);
      steps.push({ kind: 'relocate', link, entries: entries.sort(), crossDevice: current.dev !== target.dev });
      continue;
    }
    if (current !== undefined && !current.isSymbolicLink()) {
      throw new BackupError('RESTORE_CONFLICT', `${here} is neither a directory nor a symlink. Check what it is, remove it, and run the restore again.`, { details: { path: here } });
    }
    if (!hasVersionDirectory(targetEntries, major)) throw missingData(link, major, link.path);
    const previous = current ? await readlink(here) : undefined;
    if (previous === link.path) steps.push({ kind: 'keep', link });
    else if (previous !== undefined) steps.push({ kind: 'relink', link, previous });
    else steps.push({ kind: 'link', link });
  }
  return steps;
}

/** What carrying out the steps did, relative to pgdata, for the restore report. */
export interface TablespaceChanges {
  readonly written: string[];
  readonly moved: string[];
  readonly removed: string[];
  /** Human-readable lines on the links made. */
  readonly notes: string[];
}

/** fsync every file and directory under `dir` (and chown them when asked): a copy is durable before its source goes. */
async function syncTree(dir: string, owner?: { uid: number; gid: number }): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (owner) await lchown(path, owner.uid, owner.gid);
    if (entry.isDirectory()) await syncTree(path, owner);
    else if (entry.isFile()) {
      const handle = await open(path, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  }
  await fsyncDirectory(dir);
}

/** Carries out {@link planTablespaces}' steps. Each move is a rename, or across devices a copy made durable before its source is removed. */
export async function applyTablespaces(pgdata: string, steps: readonly TablespaceStep[], owner: { uid: number; gid: number } | undefined): Promise<TablespaceChanges> {
  const changes: TablespaceChanges = { written: [], moved: [], removed: [], notes: [] };
  const dir = join(pgdata, 'pg_tblspc');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const step of steps) {
    if (step.kind === 'keep') continue;
    const here = join(dir, step.link.oid);
    const name = relative(pgdata, here);
    if (step.kind === 'relocate') {
      for (const entry of step.entries) {
        const from = join(here, entry);
        const to = join(step.link.path, entry);
        if (step.crossDevice) {
          await cp(from, to, { recursive: true, errorOnExist: true, force: false, preserveTimestamps: true, verbatimSymlinks: true });
          if (owner) await chown(to, owner.uid, owner.gid);
          if ((await lstat(to)).isDirectory()) await syncTree(to, owner);
          await fsyncDirectory(step.link.path);
          await rm(from, { recursive: true });
        } else {
          await rename(from, to);
          await fsyncDirectory(step.link.path);
        }
        changes.moved.push(`${name}/${entry} -> ${to}`);
      }
      await rmdir(here);
    } else if (step.kind === 'relink') {
      await unlink(here);
    } else if (step.emptyDirectory) {
      await rmdir(here);
      changes.removed.push(`${name}/ (an empty directory)`);
    }
    await symlink(step.link.path, here);
    if (owner) await lchown(here, owner.uid, owner.gid);
    changes.written.push(name);
    changes.notes.push(step.kind === 'relink' ? `${name} linked to ${step.previous}; it now links to ${step.link.path}` : `${name} links to ${step.link.path}`);
  }
  await fsyncDirectory(dir);
  return changes;
}
