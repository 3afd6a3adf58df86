// Row 2: the CLI's pre + post (compiled, plain node) vs a raw psql process holding the session
// across the same two calls.
import { join } from 'node:path';
import { cli, PAIRS, rawPsqlAround, timed, type BenchContext, type BenchRow } from '../harness.js';

export async function cliOverhead({ work, env, cluster: shared }: BenchContext): Promise<BenchRow[]> {
  const cluster = await shared();
  const ours: number[] = [];
  const baseline: number[] = [];
  const runtimeDir = join(work, 'rt-cli');
  for (let i = 0; i < Math.min(PAIRS, 10); i++) {
    ours.push(
      await timed(async () => {
        const pre = await cli(runtimeDir, ['pre', '--id', `cli-${i}`, '--sink', join(work, 'cli-sink'), '--dbname', cluster.connectionString, '--fast', '--no-wait-archive'], env);
        if (pre.code !== 0) throw new Error(`pre: ${pre.stdout}${pre.stderr}`);
        const post = await cli(runtimeDir, ['post', '--id', `cli-${i}`], env);
        if (post.code !== 0) throw new Error(`post: ${post.stdout}${post.stderr}`);
      }),
    );
    baseline.push(await timed(() => rawPsqlAround(cluster)));
  }
  return [{ name: '2. CLI pre + post (compiled, plain node) vs raw psql holding the session', unit: 'ms', ours, baseline, target: 1.5 }];
}
