#!/bin/sh
# Borg, after a successful copy (borgmatic: after_backup hook). Stops the backup, saves the summary,
# then archives the summary directory again, in a repository of its own.
# After a failed copy (borgmatic: on_error) run `pg-split-backup abort --id "$(cat "$PGSB_STATE/borg.id")"`.
set -eu

PGSB_BIN=${PGSB_BIN:-pg-split-backup}
PGSB_SUMMARIES=${PGSB_SUMMARIES:-/var/backups/pg-summaries}
PGSB_STATE=${PGSB_STATE:-/var/lib/pg-split-backup}
# The second place for the summaries: not the repository of the data copies.
BORG_SUMMARY_REPO=${BORG_SUMMARY_REPO:-ssh://backup@offsite/./pg-summaries}

ID=$(cat "$PGSB_STATE/borg.id") || { echo "borg-post: no backup ID in $PGSB_STATE/borg.id (did borg-pre.sh succeed?)" >&2; exit 3; }
rc=0
$PGSB_BIN post --id "$ID" || rc=$?
if [ "$rc" -ne 0 ]; then
    # 4: the summary is only in the local spool (path printed above); the data copy cannot be
    # restored without it. Fail the job loudly and run this script again once the sink is back.
    echo "borg-post: post failed (exit $rc): backup $ID is NOT usable until its summary is saved" >&2
    exit "$rc"
fi

# The second backup of the summary place.
borg create "$BORG_SUMMARY_REPO::$ID-summaries" "$PGSB_SUMMARIES"
rm -f "$PGSB_STATE/borg.id"
