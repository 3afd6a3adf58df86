// Row 10: backupInfo() (what `info --wal-archive` runs) over 1,000 summaries and 10,000 segments,
// and `info --format prometheus` on the same catalogue (issue 20: within the same bounds as info):
// in-process, backupInfo + infoMetrics interleaved with backupInfo alone (pairs alternating which
// goes first); and the compiled CLI, `info --format prometheus` interleaved with the text `info`
// (both include a Node start). Every run is checked to have seen the whole catalogue.
import { backupInfo, infoMetrics } from '../../src/index.js';
import type { BackupInfoReport } from '../../src/index.js';
import { run } from '../../test/harness/index.js';
import { S3RVER_CREDENTIALS } from '../../test/harness/s3-server.js';
import { CLI_MAIN, median, type BenchContext, type BenchRow } from '../harness.js';
import { lifecycleFixture, SEGMENTS, SUMMARIES, type Catalogue } from '../lifecycle-fixture.js';

function checkReport(report: BackupInfoReport): void {
  const cluster = report.clusters[0];
  if (cluster?.backups.length !== SUMMARIES || report.archive?.timelines[0]?.segments !== SEGMENTS || !cluster.window) throw new Error('info did not see the whole catalogue');
}

function checkMetrics(text: string): void {
  if (!new RegExp(`^pgsb_backups\\{[^}]*\\} ${SUMMARIES}$`, 'm').test(text) || !new RegExp(`^pgsb_wal_archive_segments\\{timeline="1"\\} ${SEGMENTS}$`, 'm').test(text) || !/^pgsb_up 1$/m.test(text)) {
    throw new Error(`info --format prometheus did not see the whole catalogue:\n${text.slice(0, 2000)}`);
  }
}

type Side = 'first' | 'second';

/** `pairs` runs of each of `a` and `b`, alternating which goes first; ms. */
async function interleaved(pairs: number, a: () => Promise<void>, b: () => Promise<void>): Promise<{ a: number[]; b: number[] }> {
  const out = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < pairs; i++) {
    const order: Side[] = i % 2 === 0 ? ['first', 'second'] : ['second', 'first'];
    for (const side of order) {
      const t = performance.now();
      await (side === 'first' ? a() : b());
      (side === 'first' ? out.a : out.b).push(performance.now() - t);
    }
  }
  return out;
}

/** backupInfo alone vs backupInfo + infoMetrics, in-process; also infoMetrics' own time and output. */
async function inProcess(catalogue: Catalogue, pairs: number): Promise<{ info: number[]; metrics: number[]; render: number[]; lines: number }> {
  const render: number[] = [];
  let lines = 0;
  const { a, b } = await interleaved(
    pairs,
    async () => checkReport(await backupInfo({ store: catalogue.store, walArchive: catalogue.archive })),
    async () => {
      const t = performance.now();
      const report = await backupInfo({ store: catalogue.store, walArchive: catalogue.archive });
      checkReport(report);
      const r = performance.now();
      const text = infoMetrics(report, { durationMs: r - t });
      render.push(performance.now() - r);
      checkMetrics(text);
      lines = text.split('\n').length - 1;
    },
  );
  return { info: a, metrics: b, render, lines };
}

/** The CLI's text `info` vs `info --format prometheus`, same store and archive. */
async function cli(catalogue: Catalogue, pairs: number, env: NodeJS.ProcessEnv): Promise<{ text: number[]; prometheus: number[] }> {
  const info = async (format: 'text' | 'prometheus'): Promise<void> => {
    const r = await run(process.execPath, [CLI_MAIN, 'info', '--store', catalogue.storeUrl, '--wal-archive', catalogue.archiveUrl, ...(format === 'prometheus' ? ['--format', 'prometheus'] : [])], { env });
    if (r.code !== 0) throw new Error(`info --format ${format} exited ${r.code}: ${r.stderr}`);
    if (format === 'prometheus') checkMetrics(r.stdout);
    else if (r.stdout.split('\n').length < SUMMARIES) throw new Error(`info printed ${r.stdout.split('\n').length} lines for ${SUMMARIES} backups`);
  };
  const { a, b } = await interleaved(pairs, () => info('text'), () => info('prometheus'));
  return { text: a, prometheus: b };
}

export async function infoRows({ work, env }: BenchContext): Promise<BenchRow[]> {
  const { fs, s3 } = await lifecycleFixture(work);
  const cliEnv = { ...env, AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1' };
  const rows: BenchRow[] = [];
  const of = `${SUMMARIES} summaries and ${SEGMENTS} segments`;
  for (const [where, catalogue, pairs, target] of [
    ['filesystem', fs, 5, 2000],
    ['S3: s3rver on loopback', s3, 3, 15_000],
  ] as const) {
    const m = await inProcess(catalogue, pairs);
    const c = await cli(catalogue, pairs, cliEnv);
    rows.push(
      { name: `10. info over ${of} (${where})`, unit: 'ms', ours: m.info, target, note: 'target ours: the issue gives none' },
      {
        name: `10. info --format prometheus in-process (backupInfo + infoMetrics) over ${of} (${where})`,
        unit: 'ms',
        ours: m.metrics,
        target,
        note: `target: info's (issue 20: within the same bounds); ${(median(m.metrics) / median(m.info)).toFixed(2)}x info's median, interleaved; infoMetrics alone ${median(m.render).toFixed(2)} ms for ${m.lines} lines`,
      },
      {
        name: `10. CLI info --format prometheus over ${of} (${where})`,
        unit: 'ms',
        ours: c.prometheus,
        target,
        note: `target: info's; ${(median(c.prometheus) / median(c.text)).toFixed(2)}x the CLI's text info, interleaved (${median(c.text).toFixed(1)} ms, ${Math.min(...c.text).toFixed(1)}-${Math.max(...c.text).toFixed(1)}); both include a Node start`,
      },
    );
  }
  return rows;
}
