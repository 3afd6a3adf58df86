#!/bin/sh
# Veeam, post-thaw script: runs once the snapshot exists, so the copy (read from the snapshot) is
# complete as far as PostgreSQL is concerned. Stops the backup and saves the summary, then copies
# the summary directory to a second place.
set -eu

PGSB_BIN=${PGSB_BIN:-pg-split-backup}
PGSB_SUMMARIES=${PGSB_SUMMARIES:-/var/backups/pg-summaries}
PGSB_STATE=${PGSB_STATE:-/var/lib/pg-split-backup}
# The second place for the summaries: another disk or mount, outside the snapshotted volume's backups.
PGSB_SUMMARY_COPY=${PGSB_SUMMARY_COPY:-/mnt/offsite/pg-summaries}

ID=$(cat "$PGSB_STATE/veeam.id") || { echo "veeam-post-thaw: no backup ID in $PGSB_STATE/veeam.id (did veeam-pre-freeze.sh succeed?)" >&2; exit 3; }
rc=0
$PGSB_BIN post --id "$ID" || rc=$?
if [ "$rc" -ne 0 ]; then
    # 4: the summary is only in the local spool (path printed above); the snapshot cannot be
    # restored without it. Fail the job loudly and run this script again once the sink is back.
    echo "veeam-post-thaw: post failed (exit $rc): backup $ID is NOT usable until its summary is saved" >&2
    exit "$rc"
fi

# The second backup of the summary place.
mkdir -p "$PGSB_SUMMARY_COPY"
tar -C "$PGSB_SUMMARIES" -cf "$PGSB_SUMMARY_COPY/pg-summaries-$ID.tar" .
rm -f "$PGSB_STATE/veeam.id"
