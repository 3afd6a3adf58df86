// Public API of pg-split-backup. Only exports live here.
export { BackupError, ErrorCode, isBackupError } from './errors.js';
export type { BackupErrorOptions } from './errors.js';
export { assertBackupId, backupIdProblem, isValidBackupId, MAX_BACKUP_ID_LENGTH } from './summary/backup-id.js';
export type { BackupSummary } from './summary/summary.js';
export { SUMMARY_FORMAT_VERSION } from './summary/summary.js';
export type { CallOptions, LabelStore, SinkReceipt, SummarySink } from './sinks/contract.js';
