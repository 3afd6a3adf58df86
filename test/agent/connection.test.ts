import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { maskConnectionString, parseDbname } from '../../src/agent/connection.js';
import { isBackupError } from '../../src/index.js';

describe('--dbname and password masking', () => {
  test('a URI, a database name, or nothing; key=value strings are refused without echoing a password', () => {
    assert.deepEqual(parseDbname('postgresql://u@h:5/db'), { uri: 'postgresql://u@h:5/db' });
    assert.deepEqual(parseDbname('postgres://u@h/db'), { uri: 'postgres://u@h/db' });
    assert.deepEqual(parseDbname('mydb'), { database: 'mydb' });
    assert.deepEqual(parseDbname(undefined), {});
    assert.throws(
      () => parseDbname('host=h password=hunter2'),
      (e) => isBackupError(e, 'INVALID_OPTION') && !e.message.includes('hunter2'),
    );
  });

  test('maskConnectionString hides URI passwords, also ones holding @, and password= parameters', () => {
    assert.equal(maskConnectionString('postgresql://u:hunter2@h:5432/db'), 'postgresql://u:***@h:5432/db');
    assert.equal(maskConnectionString('postgresql://u:p@ss@h/db'), 'postgresql://u:***@h/db');
    assert.equal(maskConnectionString('postgresql://u@h/db?password=hunter2&sslmode=require'), 'postgresql://u@h/db?password=***&sslmode=require');
    assert.equal(maskConnectionString('postgresql://u@h/db'), 'postgresql://u@h/db');
  });
});
