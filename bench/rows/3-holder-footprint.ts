// Row 3: holder footprint: RSS of one holder; HOLDERS (50) concurrent holders on one server.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, HOLDERS, type BenchContext, type BenchRow } from '../harness.js';

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

export async function holderFootprint({ work, env, cluster: shared }: BenchContext): Promise<BenchRow[]> {
  const cluster = await shared();
  const runtimeDir = join(work, 'rt-many');
  const pids: number[] = [];
  const began = performance.now();
  // Started a few at a time: 50 node start-ups at once on 2 cores only measure the scheduler.
  for (let i = 0; i < HOLDERS; i += 5) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(5, HOLDERS - i) }, (_, k) =>
        cli(runtimeDir, ['pre', '--id', `many-${i + k}`, '--sink', join(work, 'many-sink'), '--dbname', cluster.connectionString, '--fast', '--no-wait-archive', '--json'], env),
      ),
    );
    for (const r of batch) {
      if (r.code !== 0) throw new Error(`pre failed: ${r.stdout}${r.stderr}`);
      pids.push((JSON.parse(r.stdout) as { pid: number }).pid);
    }
  }
  const startMs = performance.now() - began;
  const rss = await Promise.all(pids.map(rssMb));
  const posts = await Promise.all(pids.map((_, i) => cli(runtimeDir, ['post', '--id', `many-${i}`], env)));
  const ok = posts.filter((p) => p.code === 0).length;
  return [
    { name: '3. RSS of one holder', unit: 'MB', ours: [rss[0]!], target: 50 },
    {
      name: `3. ${HOLDERS} concurrent holders on one server: RSS per holder`,
      unit: 'MB',
      ours: rss,
      target: 50,
      note: `${ok}/${HOLDERS} posts succeeded; total RSS ${rss.reduce((a, b) => a + b, 0).toFixed(0)} MB; all started in ${(startMs / 1000).toFixed(1)} s`,
    },
  ];
}
