import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isBackupError, MemorySummaryStore } from '../../src/index.js';
import { runStoreConformance, sampleSummary, storeConformanceCases, type StoreFixture } from '../../src/testing/index.js';

const memoryFixture = async (): Promise<StoreFixture> => {
  const store = new MemorySummaryStore();
  return {
    store,
    corrupt: async (id, name, body) => void store.files.get(id)!.set(name, body),
    cleanup: async () => undefined,
  };
};

runStoreConformance({ name: 'MemorySummaryStore', describe, test, makeFixture: memoryFixture });

describe('MemorySummaryStore specifics', () => {
  test('takes { name }, and still the older positional name; the name is in every receipt', async () => {
    assert.equal(new MemorySummaryStore().name, 'memory:');
    assert.equal(new MemorySummaryStore({}).name, 'memory:');
    const named = new MemorySummaryStore({ name: 'scratch:' });
    assert.equal((await named.write(sampleSummary('b1'))).location, 'scratch:b1/');
    assert.equal(new MemorySummaryStore('old-style:').name, 'old-style:');
    assert.throws(() => new MemorySummaryStore({ name: 42 as unknown as string }), (e) => isBackupError(e, 'INVALID_OPTION'));
  });
});

describe('the conformance suite itself', () => {
  test('fails a store that overwrites a different summary instead of refusing it, and names the case', async () => {
    const careless = async (): Promise<StoreFixture> => {
      const fixture = await memoryFixture();
      const store = fixture.store as MemorySummaryStore;
      const write = store.write.bind(store);
      // Write-once broken: a different summary under a known ID replaces the stored one.
      store.write = async (summary, options) => {
        await store.delete(summary.id);
        return write(summary, options);
      };
      return fixture;
    };
    const failed: string[] = [];
    for (const c of storeConformanceCases()) {
      const fixture = await careless();
      await c.run(fixture).catch(() => failed.push(c.name));
      await fixture.cleanup();
    }
    assert.ok(failed.some((name) => /ALREADY_EXISTS and leaves the first/.test(name)), failed.join('\n'));
  });

  test('runs under any runner given its describe and test: one group, one test per case', async () => {
    const registered: string[] = [];
    const bodies: (() => Promise<void>)[] = [];
    runStoreConformance({
      name: 'Recorded',
      describe: (name, body) => {
        registered.push(`group ${name}`);
        body();
      },
      test: (name, body) => {
        registered.push(name);
        bodies.push(body);
      },
      makeFixture: memoryFixture,
    });
    assert.equal(registered[0], 'group Recorded: store conformance');
    assert.equal(registered.length, storeConformanceCases().length + 1);
    for (const body of bodies) await body();
  });
});
