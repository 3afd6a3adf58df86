#!/bin/sh
# restic, after a successful copy (resticprofile: run-after). Stops the backup, saves the summary,
# then backs up the summary directory again, as a separate snapshot in a second repository.
# After a failed copy run `pg-split-backup abort --id "$(cat "$PGSB_STATE/restic.id")"` instead
# (resticprofile: run-after-fail).
set -eu

PGSB_BIN=${PGSB_BIN:-pg-split-backup}
PGSB_SUMMARIES=${PGSB_SUMMARIES:-/var/backups/pg-summaries}
PGSB_STATE=${PGSB_STATE:-/var/lib/pg-split-backup}
# The second place for the summaries: not the repository of the data copies.
RESTIC_SUMMARY_REPOSITORY=${RESTIC_SUMMARY_REPOSITORY:-sftp:backup@offsite:/srv/restic-pg-summaries}

ID=$(cat "$PGSB_STATE/restic.id") || { echo "restic-post: no backup ID in $PGSB_STATE/restic.id (did restic-pre.sh succeed?)" >&2; exit 3; }
rc=0
$PGSB_BIN post --id "$ID" || rc=$?
if [ "$rc" -ne 0 ]; then
    # 4: the summary is only in the local spool (path printed above); the data copy cannot be
    # restored without it. Fail the job loudly and run this script again once the sink is back.
    echo "restic-post: post failed (exit $rc): backup $ID is NOT usable until its summary is saved" >&2
    exit "$rc"
fi

# The second backup of the summary place.
restic -r "$RESTIC_SUMMARY_REPOSITORY" backup "$PGSB_SUMMARIES" --tag pg-summaries --tag "$ID"
rm -f "$PGSB_STATE/restic.id"
