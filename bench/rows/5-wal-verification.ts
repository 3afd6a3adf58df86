// Row 5: verifyWal over 10,000 archived segment names: a directory, and an S3 prefix in s3rver.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FilesystemWalArchive, verifyWal, walFileName } from '../../src/index.js';
import type { BackupSummary, WalArchive } from '../../src/index.js';
import { S3WalArchive } from '../../src/stores/s3.js';
import { TestS3Server } from '../../test/harness/s3-server.js';
import { timed, type BenchContext, type BenchRow } from '../harness.js';

const SIZE = 16 * 1024 * 1024;
const NAMES = Array.from({ length: 10_000 }, (_, i) => walFileName(1, BigInt(i + 2) * BigInt(SIZE), SIZE));

/** Five verifications of a backup needing all of NAMES from `archive`. */
async function measure(id: string, archive: WalArchive, what: string): Promise<number[]> {
  // Only what verifyWal reads of a summary: the WAL range.
  const summary = { id, startWalFile: NAMES[0]!, stopWalFile: NAMES.at(-1)!, walSegmentSize: SIZE, timeline: 1 } as unknown as BackupSummary;
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    times.push(
      await timed(async () => {
        const result = await verifyWal(summary, archive);
        if (!result.complete || result.needed.length !== 10_000) throw new Error(`verification did not see all 10,000 ${what}`);
      }),
    );
  }
  return times;
}

async function filesystem(work: string): Promise<BenchRow> {
  const archive = join(work, 'archive-10k');
  await mkdir(archive);
  for (let i = 0; i < NAMES.length; i += 500) await Promise.all(NAMES.slice(i, i + 500).map((n) => writeFile(join(archive, n), '')));
  const times = await measure('bench-verify', new FilesystemWalArchive({ directory: archive }), 'files');
  return { name: '5. verify 10,000 archived segments (filesystem)', unit: 'ms', ours: times, target: 1000 };
}

async function s3(): Promise<BenchRow> {
  const s3 = await TestS3Server.start('wal');
  try {
    const options = { ...s3.storeOptions('archive') };
    const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
    const client = new S3Client({ endpoint: options.endpoint, region: options.region, forcePathStyle: true, credentials: options.credentials });
    for (let i = 0; i < NAMES.length; i += 20) {
      await Promise.all(NAMES.slice(i, i + 20).map((n) => client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `archive/${n}`, Body: Buffer.alloc(0), ContentLength: 0 }))));
    }
    client.destroy();
    const times = await measure('bench-verify-s3', new S3WalArchive(options), 'objects');
    return { name: '5. verify 10,000 archived segments (S3: s3rver on loopback)', unit: 'ms', ours: times, target: 5000 };
  } finally {
    await s3.destroy();
  }
}

export async function walVerification({ work }: BenchContext): Promise<BenchRow[]> {
  return [await filesystem(work), await s3()];
}
