// Telling a standby from archive recovery, as archive-get must before it answers a failure.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isStandbyDataDirectory, standbyModeIn } from '../../src/restore/recovery-mode.js';

test("standby_mode in a 10-11 recovery.conf: PostgreSQL's booleans and their prefixes, quoted or not, the last line winning, comments ignored", () => {
  for (const on of ["standby_mode = 'on'", 'standby_mode = on', "standby_mode='true'", 'standby_mode = yes', "standby_mode = '1'", 'standby_mode = t', "  standby_mode = 'ON' # a standby"]) {
    assert.equal(standbyModeIn(`restore_command = 'cp x'\n${on}\n`), true, on);
  }
  for (const off of ["standby_mode = 'off'", 'standby_mode = false', "standby_mode = 'o'", 'standby_mode = 0', "# standby_mode = 'on'", "standby_mode_x = 'on'", '']) {
    assert.equal(standbyModeIn(`${off}\n`), false, off);
  }
  assert.equal(standbyModeIn("standby_mode = 'on'\nstandby_mode = 'off'\n"), false);
});

test('a data directory is a standby with standby.signal or standby_mode on; recovery.signal, or nothing readable, is not', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pgsb-recovery-mode-'));
  try {
    assert.equal(await isStandbyDataDirectory(dir), false);
    await writeFile(join(dir, 'recovery.signal'), '');
    assert.equal(await isStandbyDataDirectory(dir), false);
    await writeFile(join(dir, 'recovery.conf'), "standby_mode = 'on'\n");
    assert.equal(await isStandbyDataDirectory(dir), true);
    await rm(join(dir, 'recovery.conf'));
    await writeFile(join(dir, 'standby.signal'), '');
    assert.equal(await isStandbyDataDirectory(dir), true);
    assert.equal(await isStandbyDataDirectory(join(dir, 'missing')), false);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
