// Public API of `pg-split-backup/agent`: what the CLI's pre/post/abort/status do, for a Node
// program that drives the holder itself rather than shelling out. Only exports live here.
//
// @example
// import { startBackup, stopBackup } from 'pg-split-backup/agent';
// const held = await startBackup({ id: 'nightly-2026-12-01', sinks: ['file:///backups/summaries'], fast: true });
// // ... copy the data directory ...
// const { summary, locations } = await stopBackup(held.id, { signal: AbortSignal.timeout(15 * 60_000) });

/**
 * Drive PostgreSQL backups held by a detached holder process, as the CLI's `pre`, `post`, `abort`
 * and `status` do: {@link startBackup} starts the holder and resolves once the server has started
 * the backup; {@link stopBackup} stops it and saves the summary; {@link abortBackup} gives it up;
 * {@link listRunning} and {@link backupStatus} tell what is held. Every call takes a `signal` that
 * ends the caller's wait (the holder goes on).
 * @packageDocumentation
 */
export { checkStart, DEFAULT_MAX_HOLD_MS, startBackup } from './launch.js';
export type { StartBackupOptions } from './launch.js';
export { abortBackup, backupStatus, listRunning, stopBackup } from './control.js';
export type { AbortBackupOptions, AbortOutcome, ControlOptions, ListRunningOptions, RunningBackup, StopBackupOptions, StopOutcome } from './control.js';
export type { HeldBackup, HolderStatus, ProgressUpdate } from './protocol.js';
export { resolveRuntimeDir } from './state/runtime-dir.js';
