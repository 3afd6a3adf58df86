#!/bin/sh
# Restore a split backup: fetch (and check) the summary, restore the data copy into an empty
# directory, put the summary in place with `pg-split-backup restore`, start the server.
#   restore.sh ID
# The data copy here is cron-tar.sh's tar; with restic/borg/Bacula/Veeam, replace step 2 by that
# program's restore of the copy filed under the same ID.
set -eu

ID=${1:?usage: restore.sh ID}
PGSB_BIN=${PGSB_BIN:-pg-split-backup}
# The restored data directory: must not exist yet, or be empty.
PGDATA=${PGDATA:-/var/lib/postgresql/15/main}
# A store URL: file:///dir, /dir or s3://bucket/prefix?region=...
PGSB_STORE=${PGSB_STORE:-/var/backups/pg-summaries}
PGSB_DATA_DEST=${PGSB_DATA_DEST:-/var/backups/pg-base}
PGSB_WAL_ARCHIVE=${PGSB_WAL_ARCHIVE:-/var/backups/wal}
PG_CTL=${PG_CTL:-pg_ctl}
# The OS user the server runs as (when this runs as root).
PG_USER=${PG_USER:-postgres}
# Extra server options for pg_ctl -o, e.g. "-p 5433 -c archive_mode=off" to start beside a running
# server: a test copy must not archive its new timeline into the live source's archive.
PG_SERVER_OPTIONS=${PG_SERVER_OPTIONS:-}

as_server() {
    if [ "$(id -u)" = 0 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

# 1. The summary: show verifies its checksums; if it is missing here, fetch it from the second
#    place first (e.g. untar the latest pg-summaries-*.tar into the store directory).
$PGSB_BIN show --id "$ID" --store "$PGSB_STORE"

# 2. The data copy, into an empty directory owned by the server user.
if [ -n "$(ls -A "$PGDATA" 2>/dev/null)" ]; then
    echo "restore: $PGDATA is not empty; refusing to restore over it" >&2
    exit 2
fi
mkdir -p "$PGDATA"
tar -xf "$PGSB_DATA_DEST/$ID.tar" -C "$PGDATA"
if [ "$(id -u)" = 0 ]; then chown -R "$PG_USER": "$PGDATA"; fi
chmod 0700 "$PGDATA"

# 3. backup_label, tablespace_map and the recovery configuration from the summary. Without this
#    step the copy would start from the wrong checkpoint: silently corrupt.
$PGSB_BIN restore --id "$ID" --store "$PGSB_STORE" --pgdata "$PGDATA" --wal-archive "$PGSB_WAL_ARCHIVE"
if [ "$(id -u)" = 0 ]; then chown -R "$PG_USER": "$PGDATA"; fi

# 4. Start: recovery replays the archived WAL up to the end of the backup and beyond, then promotes.
as_server "$PG_CTL" -D "$PGDATA" -l "$PGDATA/restore-start.log" -o "$PG_SERVER_OPTIONS" -w -t 120 start
echo "restore: backup $ID restored into $PGDATA and started"
