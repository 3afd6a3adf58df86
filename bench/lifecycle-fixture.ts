// The catalogue rows 10 and 11 run over, built once: 1,000 summaries and 10,000 archived segment
// names (empty files / objects), in a directory and in an S3 prefix (s3rver on loopback).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FilesystemSummaryStore, FilesystemWalArchive } from '../src/index.js';
import type { LabelStore, WalArchive } from '../src/index.js';
import { S3SummaryStore, S3WalArchive } from '../src/stores/s3.js';
import { TestS3Server } from '../test/harness/s3-server.js';
import { s3ArchiveUrl } from '../test/harness/wal-archive.js';
import { fillBucket, fillDirectory, segmentNames, writeSummaries } from '../test/lifecycle/fixtures.js';

export const SUMMARIES = 1000;
export const SEGMENTS = 10_000;

export interface Catalogue {
  readonly store: LabelStore;
  readonly archive: WalArchive;
  /** The same store and archive as the CLI's --store and --wal-archive (S3: s3rver's credentials come from the environment). */
  readonly storeUrl: string;
  readonly archiveUrl: string;
}

let built: Promise<{ fs: Catalogue; s3: Catalogue; cleanup: () => Promise<void> }> | undefined;

/** Both catalogues; the S3 server lives until `cleanup`. */
export function lifecycleFixture(work: string): Promise<{ fs: Catalogue; s3: Catalogue; cleanup: () => Promise<void> }> {
  built ??= (async () => {
    const names = segmentNames(1, 2, SEGMENTS + 1);
    const fsStore = new FilesystemSummaryStore({ directory: join(work, 'catalogue', 'summaries') });
    const fsArchive = join(work, 'catalogue', 'wal');
    await mkdir(fsArchive, { recursive: true });
    await writeSummaries(fsStore, SUMMARIES);
    await fillDirectory(fsArchive, names, '');
    const server = await TestS3Server.start('catalogue');
    const s3Store = new S3SummaryStore(server.storeOptions('summaries'));
    await writeSummaries(s3Store, SUMMARIES);
    await fillBucket(server.storeOptions('wal'), names, '');
    return {
      fs: { store: fsStore, archive: new FilesystemWalArchive({ directory: fsArchive }), storeUrl: join(work, 'catalogue', 'summaries'), archiveUrl: fsArchive },
      s3: { store: s3Store, archive: new S3WalArchive(server.storeOptions('wal')), storeUrl: s3ArchiveUrl(server, 'summaries'), archiveUrl: s3ArchiveUrl(server, 'wal') },
      cleanup: () => server.destroy(),
    };
  })();
  return built;
}

/** Stops the S3 server, if the fixture was built. */
export async function closeLifecycleFixture(): Promise<void> {
  if (built) await (await built.catch(() => undefined))?.cleanup();
}
