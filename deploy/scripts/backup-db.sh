#!/usr/bin/env bash
# Backs up the podbrain database with pg_dump (custom format) and keeps the newest
# BACKUP_KEEP files (default 14) in BACKUP_DIR (default deploy/backups).
#   deploy/scripts/backup-db.sh            # prints the new file's path
# With DATABASE_URL set it runs pg_dump directly; otherwise it runs pg_dump inside the
# compose `postgres` service (POSTGRES_USER / POSTGRES_DB from .env).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in -h|--help) sed -n '2,6p' "$0"; exit 0 ;; esac
backup_dir="${BACKUP_DIR:-$PODBRAIN_ROOT/deploy/backups}"
keep="${BACKUP_KEEP:-14}"
[[ "$keep" =~ ^[1-9][0-9]*$ ]] || die "BACKUP_KEEP must be a positive number, got: $keep"
mkdir -p "$backup_dir"

stamp=$(date -u +%Y%m%dT%H%M%S.%NZ)
file="$backup_dir/podbrain-$stamp.dump"
tmp="$file.part"
trap 'rm -f "$tmp"' EXIT

if [[ -n "${DATABASE_URL:-}" ]]; then
  pg_dump --format=custom --no-owner --no-privileges --dbname="$DATABASE_URL" --file="$tmp"
else
  # shellcheck disable=SC2016 # expanded by the shell inside the postgres container
  compose exec -T postgres sh -c 'pg_dump --format=custom --no-owner --no-privileges -U "$POSTGRES_USER" "$POSTGRES_DB"' > "$tmp"
fi
# A dump pg_restore cannot list is no backup.
pg_restore --list "$tmp" > /dev/null || die "pg_dump wrote an unreadable archive"
mv -f "$tmp" "$file"
trap - EXIT

# Rotation: newest first by name (the UTC timestamp sorts), drop all after $keep.
mapfile -t old < <(find "$backup_dir" -maxdepth 1 -name 'podbrain-*.dump' -printf '%f\n' | sort -r | tail -n +"$((keep + 1))")
for f in "${old[@]}"; do rm -f -- "${backup_dir:?}/$f"; done
log "backup written: $file ($(stat -c %s "$file") bytes); kept newest $keep, removed ${#old[@]}"
printf '%s\n' "$file"
