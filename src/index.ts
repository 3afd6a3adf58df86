// Public API of pg-split-backup. Only exports live here; the S3 adapter is `pg-split-backup/s3`.
export { BackupError, ErrorCode, isBackupError } from './errors.js';
export type { BackupErrorJson, BackupErrorOptions } from './errors.js';

export { BackupSession } from './session/backup-session.js';
export type { BackupSessionEvents, SessionState, StartResult, StopResult } from './session/events.js';
export type { BackupSessionOptions, Logger } from './session/options.js';
export type { ConnectionConfig, ConnectionOptions } from './postgres/connection-config.js';

export type { CallOptions, LabelStore, SinkReceipt, SummarySink } from './sinks/contract.js';
export { deliverSpooled, resendSpooled } from './spool/deliver.js';
export type { DeliverSpooledOptions, Delivery, Resent, ResendSpooledOptions, ResentSummary } from './spool/deliver.js';
export { defaultSpoolDirectory, Spool } from './spool/spool.js';
export type { RawStopOutput } from './spool/spool.js';
export { FilesystemSummaryStore } from './stores/filesystem.js';
export type { FilesystemSummaryStoreOptions } from './stores/filesystem.js';
export { MemorySummaryStore } from './stores/memory.js';
export type { MemorySummaryStoreOptions } from './stores/memory.js';

export type { AttachmentOverview, BackupSummary, SummaryAttachment, SummaryOverview } from './summary/summary.js';
export { ATTACHMENT_NAME, SUMMARY_FORMAT_VERSION, summaryOverview } from './summary/summary.js';
export { TOOL } from './version.js';
export type { ToolVersion } from './version.js';
export { assertBackupId, backupIdProblem, isValidBackupId, MAX_BACKUP_ID_LENGTH } from './summary/backup-id.js';
export { decodeSummary, encodeSummary } from './summary/encoding.js';
export type { SummaryFile } from './summary/encoding.js';
export { parseBackupLabel } from './summary/backup-label.js';
export type { BackupLabel } from './summary/backup-label.js';
export { compareLsn, formatLsn, isLsn, parseLsn } from './summary/lsn.js';
export { isWalFileName, parseWalFileName, stopWalFileName, timelineHistoryFileName, walFileName, walFileRange } from './summary/wal-file.js';
export type { WalFilePosition } from './summary/wal-file.js';

export { prepareRestore } from './restore/prepare-restore.js';
export type { PrepareRestoreOptions, RestoreReport } from './restore/prepare-restore.js';
export type { ArchiveMode, RecoveryTarget, RecoveryTargetAction } from './restore/recovery-config.js';
export { assertRecoveryTarget, parseTargetTimeline, quoteConfValue } from './restore/recovery-config.js';
export { chooseRecoveryTimeline, type RecoveryTimelineInput } from './restore/recovery-timeline.js';
export { readTimelineHistories } from './restore/timeline-histories.js';
export {
  chooseTargetTimeline,
  latestTimeline,
  restorableTimelines,
  timelineContains,
  type BackupPosition,
  type Containment,
  type TargetTimeline,
  type TimelineChoice,
} from './summary/timeline-history.js';
export { timelinePathFiles } from './summary/wal-range.js';
export { assertWalComplete, COMPRESSED_WAL_SUFFIXES, neededWalFiles, verifyRestoreWal, verifyWal } from './restore/verify-wal.js';
export type { RestoreWalVerification, VerifyRestoreWalOptions, VerifyWalOptions, WalVerification } from './restore/verify-wal.js';
export { FilesystemWalArchive, isArchiveTempName, isStaleArchiveTemp, openWalArchive, openWritableWalArchive } from './restore/wal-archive.js';
export type { FilesystemWalArchiveOptions, OpenWalArchiveOptions, StaleTempOptions, WalArchive, WalArchiveFile, WritableWalArchive } from './restore/wal-archive.js';
export { archivePush, assertArchivableName } from './restore/archive-push.js';
export { archivePushAsync } from './agent/archive-pusher.js';
export type { ArchivePushAsyncOptions } from './agent/archive-pusher.js';
export { readArchivePushQueue } from './agent/archive-push-queue.js';
export type { ArchivePushQueue, ArchivePushQueueOptions } from './agent/archive-push-queue.js';
export { archiveGetPrefetched } from './agent/wal-prefetch.js';
export type { ArchiveGetPrefetchOptions, ArchiveGetPrefetchResult } from './agent/wal-prefetch.js';
export type { ArchivePushOptions, ArchivePushResult } from './restore/archive-push.js';
export { archiveGet } from './restore/archive-get.js';
export type { ArchiveGetOptions, ArchiveGetResult } from './restore/archive-get.js';
export { archiveGetCommand, archivePushCommand, quoteForShell } from './restore/archive-command-line.js';
export type { ArchiveCommandLineOptions } from './restore/archive-command-line.js';
export { assertWalCompression, isWalCompressionAvailable, WAL_COMPRESSIONS } from './restore/wal-compression.js';
export type { WalCompression } from './restore/wal-compression.js';
export { checkChain } from './lifecycle/check.js';
export { readArchiverStatus } from './lifecycle/archiver-status.js';
export { drillMetrics } from './lifecycle/drill-metrics.js';
export type { DrillMetricsOptions } from './lifecycle/drill-metrics.js';
export type { ArchiverState } from './lifecycle/archiver-status.js';
export type { CheckOptions, CheckReport, CheckResult } from './lifecycle/check.js';
export { infoMetrics, infoMetricsDown } from './lifecycle/info-metrics.js';
export type { InfoMetricsOptions } from './lifecycle/info-metrics.js';
export { openStore, parseStoreUrl } from './stores/store-url.js';
export type { OpenedStore, OpenStoreOptions, StoreUrl } from './stores/store-url.js';
export {
  ENCRYPTION_KEY_FILE_VARIABLE,
  ENCRYPTION_KEY_VARIABLE,
  encryptionFrom,
  generateKeyText,
  KEY_BYTES,
  keyIdOf,
  Keyring,
  loadKeyring,
  parseKeys,
  readKeyFile,
  writeNewKey,
} from './crypto/keyring.js';
export type { EncryptionOptions, EncryptionSettings, KeySources } from './crypto/keyring.js';
export { isSealed, openObject, seal, sealedKeyId, sealObject, unseal, rewrap, DEFAULT_CHUNK_LOG2 } from './crypto/envelope.js';
export { EncryptedWalArchive } from './crypto/encrypted-wal-archive.js';
export { rewrapObjects } from './crypto/rewrap.js';
export type { RawObjects, RewrapOptions, RewrapReport } from './crypto/rewrap.js';
export { copyExclusionList, copyExclusions, EXCLUSION_FORMATS } from './copy/exclusions.js';
export type { CopyExclusion, CopyExclusionOptions, ExclusionFormat } from './copy/exclusions.js';
export { drill } from './restore/drill.js';
export type { DrillCheckContext, DrillClient, DrillOptions, DrillProgress, DrillQueryResult, DrillReport } from './restore/drill.js';

export { analyseArchive, checkBackupRange, classifyArchiveFile, parseTimelineHistory, reachableTimelines, recoverableWindow, restoreTimelines } from './lifecycle/archive-analysis.js';
export type {
  ArchiveAnalysis,
  ArchiveFileKind,
  ArchiveListingFile,
  ArchiveTimeline,
  CatalogueBackup,
  ClassifiedFile,
  HistoryEntry,
  RangeCheck,
  RecoverableWindow,
  RestorableTimeline,
  SegmentGap,
  TimelineHistories,
  UnreadableSummary,
  WindowEnd,
  ArchivedFile,
  ReachableTimelines,
} from './lifecycle/archive-analysis.js';
export { planExpiry } from './lifecycle/plan-expiry.js';
export type { ExpiryInput, ExpiryPlan, ExpiryPolicy, KeepReason, KeptSummary, PlannedFile, RemovedSummary, RunningBackupStart, WalExpiryPlan } from './lifecycle/plan-expiry.js';
export { readArchiveListing, readCatalogue } from './lifecycle/catalogue.js';
export type { ArchiveListing, Catalogue, ReadCatalogueOptions } from './lifecycle/catalogue.js';
export { backupInfo } from './lifecycle/info.js';
export type { BackupInfoEntry, BackupInfoOptions, BackupInfoReport, ClusterInfo } from './lifecycle/info.js';
export { expire } from './lifecycle/expire.js';
export type { ExpireOptions, ExpireReport } from './lifecycle/expire.js';
export type { DrillCheck } from './restore/drill.js';
