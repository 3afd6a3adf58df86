// The conformance suite lives in src/testing (the `pg-split-backup/testing` entry point); this
// module keeps the old import path of the tests that only want a sample summary.
export { sampleSummary } from '../../src/testing/index.js';
export type { StoreAbilities, StoreFixture } from '../../src/testing/index.js';
