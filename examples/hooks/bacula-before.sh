#!/bin/sh
# Bacula / Bareos, on the client before the copy:
#   ClientRunBeforeJob = "/usr/local/bin/bacula-before.sh %n-%i"
# The job name and job ID (%n-%i) make the backup ID; bacula-after.sh gets the same argument.
# A non-zero exit cancels the job. Bacula reads the output to EOF: the holder does not keep it open.
set -eu

ID=${1:?usage: bacula-before.sh JOBNAME-JOBID (ClientRunBeforeJob = "... %n-%i")}
# Word-split on purpose, so it may be a command with arguments (node --import tsx .../main.ts).
PGSB_BIN=${PGSB_BIN:-pg-split-backup}
PGSB_DB=${PGSB_DB:-postgresql://backup@localhost/postgres}
PGSB_SUMMARIES=${PGSB_SUMMARIES:-/var/backups/pg-summaries}

$PGSB_BIN pre --id "$ID" --dbname "$PGSB_DB" --fast --sink "$PGSB_SUMMARIES"
