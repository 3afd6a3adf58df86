#!/bin/sh
# Veeam (Linux, application-aware processing), pre-freeze script: runs before the snapshot.
# Starts the backup; the snapshot taken next is the data copy. Keeps the ID for veeam-post-thaw.sh.
# A non-zero exit fails the job before the snapshot. Veeam passes no arguments.
set -eu

# Word-split on purpose, so it may be a command with arguments (node --import tsx .../main.ts).
PGSB_BIN=${PGSB_BIN:-pg-split-backup}
PGSB_DB=${PGSB_DB:-postgresql://backup@localhost/postgres}
PGSB_SUMMARIES=${PGSB_SUMMARIES:-/var/backups/pg-summaries}
PGSB_STATE=${PGSB_STATE:-/var/lib/pg-split-backup}
ID=${PGSB_ID:-veeam-$(date -u +%Y%m%dT%H%M%SZ)}

mkdir -p "$PGSB_STATE"
# A stale ID must never reach post: post would report that older backup again.
rm -f "$PGSB_STATE/veeam.id"
# --fast: Veeam limits how long a pre-freeze script may take; a spread checkpoint can take minutes.
$PGSB_BIN pre --id "$ID" --dbname "$PGSB_DB" --fast --sink "$PGSB_SUMMARIES"
echo "$ID" >"$PGSB_STATE/veeam.id"
