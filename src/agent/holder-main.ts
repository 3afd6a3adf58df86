// Entry point of the detached holder process started by `pg-split-backup pre`.
// Its configuration arrives over the IPC channel; stdout/stderr are its log file.
import { runHolder, type HolderConfig, type HolderMessage } from './holder.js';

const log = (level: string, message: string): void => {
  process.stdout.write(`${new Date().toISOString()} [${process.pid}] ${level.toUpperCase()} ${message}\n`);
};

process.title = 'pg-split-backup holder';
process.once('message', (config: HolderConfig) => {
  const send = (message: HolderMessage): void => {
    // pre may have gone (killed): the holder carries on without it.
    if (process.connected) process.send?.(message);
  };
  runHolder(config, send, log).then(
    (code) => process.exit(code),
    (error: Error) => {
      log('error', `holder crashed: ${error.stack ?? error.message}`);
      process.exit(1);
    },
  );
});
