import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { run } from '../harness/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('examples/custom-sink.ts runs: the first write stores, the second is a no-op', async () => {
  const result = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'examples/custom-sink.ts')], { cwd: ROOT });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /first write: .*"written":true/);
  assert.match(result.stdout, /second write: .*"written":false/);
});
