#!/bin/sh
# Bacula / Bareos, on the client after a successful copy:
#   ClientRunAfterJob = "/usr/local/bin/bacula-after.sh %n-%i"
# After a failed copy, a RunScript with RunsOnFailure = Yes should run
# `pg-split-backup abort --id %n-%i` (see docs/hooks.md).
set -eu

ID=${1:?usage: bacula-after.sh JOBNAME-JOBID (ClientRunAfterJob = "... %n-%i")}
PGSB_BIN=${PGSB_BIN:-pg-split-backup}
PGSB_SUMMARIES=${PGSB_SUMMARIES:-/var/backups/pg-summaries}
# The second place for the summaries: another disk or mount, not the data copies' pool.
PGSB_SUMMARY_COPY=${PGSB_SUMMARY_COPY:-/mnt/offsite/pg-summaries}

rc=0
$PGSB_BIN post --id "$ID" || rc=$?
if [ "$rc" -ne 0 ]; then
    # A non-zero exit marks the job in error. 4: the summary is only in the local spool (path
    # printed above); the data copy cannot be restored without it. Run this again once the sink is back.
    echo "bacula-after: post failed (exit $rc): backup $ID is NOT usable until its summary is saved" >&2
    exit "$rc"
fi

# The second backup of the summary place (or a director-side "pg-summaries" job to another pool,
# as in docs/hooks.md).
mkdir -p "$PGSB_SUMMARY_COPY"
tar -C "$PGSB_SUMMARIES" -cf "$PGSB_SUMMARY_COPY/pg-summaries-$ID.tar" .
