#!/bin/sh
# Borg, before the copy (borgmatic: before_backup hook). Starts the backup, writes borg's patterns
# file, and keeps the ID for borg-post.sh.
#   borg create --patterns-from "$PGSB_STATE/excludes.borg" "$BORG_REPO::$(cat "$PGSB_STATE/borg.id")" "$PGDATA"
set -eu

# Word-split on purpose, so it may be a command with arguments (node --import tsx .../main.ts).
PGSB_BIN=${PGSB_BIN:-pg-split-backup}
PGDATA=${PGDATA:-/var/lib/postgresql/15/main}
PGSB_DB=${PGSB_DB:-postgresql://backup@localhost/postgres}
PGSB_SUMMARIES=${PGSB_SUMMARIES:-/var/backups/pg-summaries}
PGSB_STATE=${PGSB_STATE:-/var/lib/pg-split-backup}
ID=${PGSB_ID:-borg-$(date -u +%Y%m%dT%H%M%SZ)}

mkdir -p "$PGSB_STATE"
# A stale ID must never reach post: post would report that older backup again.
rm -f "$PGSB_STATE/borg.id"
$PGSB_BIN excludes --format borg --pg-major "$(cat "$PGDATA/PG_VERSION")" --pgdata "$PGDATA" >"$PGSB_STATE/excludes.borg"
# A non-zero exit (no backup started) makes borgmatic skip the backup.
$PGSB_BIN pre --id "$ID" --dbname "$PGSB_DB" --fast --sink "$PGSB_SUMMARIES"
echo "$ID" >"$PGSB_STATE/borg.id"
