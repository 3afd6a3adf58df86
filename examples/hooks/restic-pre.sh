#!/bin/sh
# restic, before the copy (resticprofile: run-before; or the first line of a wrapper script).
# Starts the backup, writes restic's exclude file, and keeps the ID for restic-post.sh.
#   restic-pre.sh && restic backup "$PGDATA" --exclude-file "$PGSB_STATE/excludes.restic" --tag "$(cat "$PGSB_STATE/restic.id")" && restic-post.sh
set -eu

# Word-split on purpose, so it may be a command with arguments (node --import tsx .../main.ts).
PGSB_BIN=${PGSB_BIN:-pg-split-backup}
PGDATA=${PGDATA:-/var/lib/postgresql/15/main}
PGSB_DB=${PGSB_DB:-postgresql://backup@localhost/postgres}
PGSB_SUMMARIES=${PGSB_SUMMARIES:-/var/backups/pg-summaries}
# Holds the ID between pre and post, and the exclude file.
PGSB_STATE=${PGSB_STATE:-/var/lib/pg-split-backup}
ID=${PGSB_ID:-restic-$(date -u +%Y%m%dT%H%M%SZ)}

mkdir -p "$PGSB_STATE"
# A stale ID must never reach post: post would report that older backup again.
rm -f "$PGSB_STATE/restic.id"
$PGSB_BIN excludes --format restic --pg-major "$(cat "$PGDATA/PG_VERSION")" --pgdata "$PGDATA" >"$PGSB_STATE/excludes.restic"
# A non-zero exit (no backup started) must stop restic from running.
$PGSB_BIN pre --id "$ID" --dbname "$PGSB_DB" --fast --sink "$PGSB_SUMMARIES"
echo "$ID" >"$PGSB_STATE/restic.id"
