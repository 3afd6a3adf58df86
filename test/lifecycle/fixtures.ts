// Synthetic catalogues and archives (no server): summaries with chosen WAL ranges, and empty
// segment files named as a server would archive them. Shared by the store tests and the bench.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { formatLsn, walFileName } from '../../src/index.js';
import type { BackupSummary, SummarySink } from '../../src/index.js';
import { sampleSummary } from '../stores/conformance.js';

export const SEG = 16 * 1024 * 1024;
export const seg = (tli: number, n: number): string => walFileName(tli, BigInt(n) * BigInt(SEG), SEG);

/** A summary whose WAL runs from segment `from` to `to` on timeline `tli`, stopped `n` minutes after a base time. */
export function rangeSummary(id: string, from: number, to: number, minute: number, overrides: Partial<BackupSummary> = {}): BackupSummary {
  const tli = overrides.timeline ?? 1;
  const start = formatLsn(BigInt(from) * BigInt(SEG) + 0x28n);
  const stop = formatLsn(BigInt(to) * BigInt(SEG) + 0x138n);
  const at = (m: number): string => new Date(Date.UTC(2026, 10, 1) + m * 60_000).toISOString();
  return sampleSummary(id, {
    labelFile: `START WAL LOCATION: ${start} (file ${seg(tli, from)})\nCHECKPOINT LOCATION: ${start}\nBACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: 2026-11-01 00:00:00 UTC\nLABEL: ${id}\nSTART TIMELINE: ${tli}\n`,
    startLsn: start,
    stopLsn: stop,
    startWalFile: seg(tli, from),
    stopWalFile: seg(tli, to),
    startedAt: at(minute - 1),
    stoppedAt: at(minute),
    ...overrides,
  });
}

/** `count` summaries, one every 10 segments, written 50 at a time. */
export async function writeSummaries(store: SummarySink, count: number, every = 10): Promise<BackupSummary[]> {
  const summaries = Array.from({ length: count }, (_, i) => rangeSummary(`b-${String(i).padStart(5, '0')}`, 2 + i * every, 3 + i * every, 10 + i));
  for (let i = 0; i < summaries.length; i += 50) await Promise.all(summaries.slice(i, i + 50).map((s) => store.write(s)));
  return summaries;
}

/** Segment names `from..to` on a timeline, minus `skip`. */
export function segmentNames(tli: number, from: number, to: number, skip: number[] = []): string[] {
  const names: string[] = [];
  for (let n = from; n <= to; n++) if (!skip.includes(n)) names.push(seg(tli, n));
  return names;
}

/** Small files standing in for segments in an archive directory. */
export async function fillDirectory(dir: string, names: readonly string[], body = 'x'): Promise<void> {
  for (let i = 0; i < names.length; i += 200) await Promise.all(names.slice(i, i + 200).map((name) => writeFile(join(dir, name), body)));
}

/** The same in an S3 prefix. */
export async function fillBucket(options: { bucket: string; prefix: string } & ConstructorParameters<typeof S3Client>[0], names: readonly string[], body = 'x'): Promise<void> {
  const client = new S3Client({ ...options, maxAttempts: 3 });
  try {
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(names.slice(i, i + 50).map((name) => client.send(new PutObjectCommand({ Bucket: options.bucket, Key: `${options.prefix}/${name}`, Body: Buffer.from(body), ContentLength: Buffer.byteLength(body) }))));
    }
  } finally {
    client.destroy();
  }
}
