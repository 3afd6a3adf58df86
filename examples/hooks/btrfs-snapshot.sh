#!/bin/sh
# Btrfs: one script does the whole run. pre, a read-only snapshot of every subvolume holding
# PGDATA or a tablespace, named by the backup ID, post, then a second copy of the summary directory.
#   /etc/cron.d/pg-base-backup:  15 2 * * * root /usr/local/bin/btrfs-snapshot.sh
# The snapshots need not be atomic together: each is taken inside the same backup window (after pre,
# before post), and WAL replay from the backup's start makes them consistent. Every subvolume must
# be listed: a tablespace left out is missing from the restore, and restore refuses it.
# Run as root (btrfs subvolume snapshot); every setting below can come from the environment.
set -eu

PGSB_BIN=${PGSB_BIN:-pg-split-backup}
PGSB_DB=${PGSB_DB:-postgresql://backup@localhost/postgres}
# The subvolumes: PGDATA's and each tablespace's (space-separated; their last path parts must differ).
PGSB_SUBVOLUMES=${PGSB_SUBVOLUMES:-/srv/pg/data /srv/pg/tblspc}
# Where the snapshots go, on the same Btrfs filesystem: <dir>/<ID>/<last part of the subvolume>.
PGSB_SNAPSHOT_DIR=${PGSB_SNAPSHOT_DIR:-/srv/pg/snapshots}
PGSB_SUMMARIES=${PGSB_SUMMARIES:-/var/backups/pg-summaries}
# The second place for the summaries: another disk or mount, not the snapshotted filesystem.
PGSB_SUMMARY_COPY=${PGSB_SUMMARY_COPY:-/mnt/offsite/pg-summaries}
ID=${PGSB_ID:-btrfs-$(date -u +%Y%m%dT%H%M%SZ)}

# A non-zero exit means no backup was started (the reason is printed): stop here.
$PGSB_BIN pre --id "$ID" --dbname "$PGSB_DB" --fast --sink "$PGSB_SUMMARIES"

mkdir -p "$PGSB_SNAPSHOT_DIR/$ID"
for subvolume in $PGSB_SUBVOLUMES; do
    if ! btrfs subvolume snapshot -r "$subvolume" "$PGSB_SNAPSHOT_DIR/$ID/$(basename "$subvolume")"; then
        $PGSB_BIN abort --id "$ID"
        echo "btrfs-snapshot: snapshot of $subvolume failed: backup $ID aborted" >&2
        exit 1
    fi
done

rc=0
$PGSB_BIN post --id "$ID" || rc=$?
if [ "$rc" -ne 0 ]; then
    # 4: the summary is only in the local spool (path printed above). Run post again once the sink is back.
    echo "btrfs-snapshot: post failed (exit $rc): backup $ID is NOT usable until its summary is saved" >&2
    exit "$rc"
fi

# The second backup of the summary place: the snapshots cannot be restored without it.
mkdir -p "$PGSB_SUMMARY_COPY"
tar -C "$PGSB_SUMMARIES" -cf "$PGSB_SUMMARY_COPY/pg-summaries-$ID.tar" .
echo "btrfs-snapshot: backup $ID: snapshots in $PGSB_SNAPSHOT_DIR/$ID, summary in $PGSB_SUMMARIES/$ID"
