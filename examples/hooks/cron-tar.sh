#!/bin/sh
# cron + tar: one script does the whole run. pre, a tar of PGDATA without what a base backup must
# leave out, post, then a second, separate copy of the summary directory.
#   /etc/cron.d/pg-base-backup:  15 2 * * * postgres /usr/local/bin/cron-tar.sh
# Every setting below can come from the environment.
set -eu

# Word-split on purpose, so it may be a command with arguments (node --import tsx .../main.ts).
PGSB_BIN=${PGSB_BIN:-pg-split-backup}
PGDATA=${PGDATA:-/var/lib/postgresql/15/main}
PGSB_DB=${PGSB_DB:-postgresql://backup@localhost/postgres}
# Where post saves the summary (add a second --sink below for an S3 bucket, say).
PGSB_SUMMARIES=${PGSB_SUMMARIES:-/var/backups/pg-summaries}
# Where the data copies go.
PGSB_DATA_DEST=${PGSB_DATA_DEST:-/var/backups/pg-base}
# The second place for the summaries: another disk or mount, never the data copies' place.
PGSB_SUMMARY_COPY=${PGSB_SUMMARY_COPY:-/mnt/offsite/pg-summaries}
ID=${PGSB_ID:-tar-$(date -u +%Y%m%dT%H%M%SZ)}

excludes=$(mktemp)
trap 'rm -f "$excludes"' EXIT
$PGSB_BIN excludes --format tar --pg-major "$(cat "$PGDATA/PG_VERSION")" >"$excludes"

# A non-zero exit means no backup was started (the reason is printed): stop here.
$PGSB_BIN pre --id "$ID" --dbname "$PGSB_DB" --fast --sink "$PGSB_SUMMARIES"

mkdir -p "$PGSB_DATA_DEST"
rc=0
tar -C "$PGDATA" -cf "$PGSB_DATA_DEST/$ID.tar" \
    --warning=no-file-changed --warning=no-file-removed \
    --exclude-from="$excludes" . || rc=$?
# tar exits 1 when a file changed while it was read: expected on a live cluster, WAL replay fixes it.
if [ "$rc" -gt 1 ]; then
    echo "cron-tar: tar failed (exit $rc); aborting backup $ID" >&2
    $PGSB_BIN abort --id "$ID" || true
    exit "$rc"
fi

rc=0
$PGSB_BIN post --id "$ID" || rc=$?
if [ "$rc" -ne 0 ]; then
    # 4: the summary is only in the local spool (path printed above). Without it the data copy
    # cannot be restored, so fail loudly; run post again once the sink is back.
    echo "cron-tar: post failed (exit $rc): backup $ID is NOT usable until its summary is saved" >&2
    exit "$rc"
fi

# The second backup of the summary place, apart from the data copies.
mkdir -p "$PGSB_SUMMARY_COPY"
tar -C "$PGSB_SUMMARIES" -cf "$PGSB_SUMMARY_COPY/pg-summaries-$ID.tar" .
echo "cron-tar: backup $ID: data $PGSB_DATA_DEST/$ID.tar, summary in $PGSB_SUMMARIES and $PGSB_SUMMARY_COPY"
