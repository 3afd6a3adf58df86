// Fault injection for the holder, loaded only by tests: `node --import <this file>` in a CLI
// child, whose holder inherits the flag (pre passes its execArgv on). It subscribes to the holder's
// diagnostics channel and fails on purpose as `PGSB_TEST_FAULT` says (docs/hooks.md):
// - `kill-after-spool`: SIGKILLs the holder right after the stop's summary is spooled, before any
//   sink write (fault 11);
// - `throw-while-held`: throws an uncaught error 200 ms after the backup is held (the crash path).
// The product code knows nothing of this: it only publishes its milestones.
import { subscribe } from 'node:diagnostics_channel';
import { fileURLToPath } from 'node:url';
import { HOLDER_DIAGNOSTICS_CHANNEL, type HolderDiagnostic } from '../../src/agent/holder/holder.js';

/** The environment variable naming the fault. */
export const TEST_FAULT_VARIABLE = 'PGSB_TEST_FAULT';

/** The faults this module injects. */
export type HolderFault = 'kill-after-spool' | 'throw-while-held';

/** What a CLI child needs to run with `fault` in its holder: `{ env, nodeArgs }` for CliSandbox.run. */
export function withHolderFault(fault: HolderFault): { env: NodeJS.ProcessEnv; nodeArgs: string[] } {
  return { env: { [TEST_FAULT_VARIABLE]: fault }, nodeArgs: ['--import', fileURLToPath(import.meta.url)] };
}

const fault = process.env[TEST_FAULT_VARIABLE];
if (fault !== undefined && fault !== '') {
  subscribe(HOLDER_DIAGNOSTICS_CHANNEL, (message) => {
    const diagnostic = message as HolderDiagnostic;
    if (fault === 'kill-after-spool' && diagnostic.event === 'spooled') process.kill(process.pid, 'SIGKILL');
    if (fault === 'throw-while-held' && diagnostic.event === 'held') {
      setTimeout(() => {
        throw new Error('test fault: throw-while-held');
      }, 200);
    }
  });
}
