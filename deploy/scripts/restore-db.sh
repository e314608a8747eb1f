#!/usr/bin/env bash
# Restores a backup made by backup-db.sh, replacing the objects in the database.
#   deploy/scripts/restore-db.sh FILE --yes
# With DATABASE_URL set it runs pg_restore directly; otherwise it stops the roles that write,
# restores inside the compose `postgres` service and starts them again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

file=""
yes=0
for arg in "$@"; do
  case "$arg" in
    --yes|-y) yes=1 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    -*) die "unknown option $arg" ;;
    *) file="$arg" ;;
  esac
done
[[ -n "$file" ]] || die "usage: restore-db.sh FILE --yes"
[[ -r "$file" ]] || die "backup not found or unreadable: $file"
pg_restore --list "$file" > /dev/null 2>&1 || die "not a pg_dump custom-format archive: $file"
((yes)) || die "restoring replaces the current database; re-run with --yes"

restore_args=(--clean --if-exists --no-owner --no-privileges --single-transaction --exit-on-error)
if [[ -n "${DATABASE_URL:-}" ]]; then
  pg_restore "${restore_args[@]}" --dbname="$DATABASE_URL" "$file"
else
  writers=("${FRONT_SERVICES[@]}" "${WORKER_SERVICES[@]}")
  log "stopping ${writers[*]}"
  compose stop "${writers[@]}"
  compose exec -T postgres sh -c "pg_restore ${restore_args[*]} -U \"\$POSTGRES_USER\" -d \"\$POSTGRES_DB\"" < "$file"
  log "starting ${writers[*]}"
  compose up -d --no-deps "${WORKER_SERVICES[@]}"
  compose up -d --no-deps "${FRONT_SERVICES[@]}"
fi
log "restored $file"
