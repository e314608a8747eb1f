#!/usr/bin/env bash
# Restores a backup made by backup.sh: the database, then the data volume (index, artifacts, feeds).
#   deploy/scripts/restore.sh BACKUP_DIR [--force]
# First checks every file against manifest.json and every archive member (nothing is changed when
# one is missing, altered or unsafe). Refuses a database that holds feeds or episodes, or a
# DATA_DIR that holds artifacts, unless --force. With DATABASE_URL and DATA_DIR set it works on this
# machine (stop the roles first); otherwise it stops the compose roles, restores, runs the
# migrations and starts them again.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

backup=""
force=0
for arg in "$@"; do
  case "$arg" in
    --force|-f) force=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    -*) die "unknown option $arg" ;;
    *) [[ -z "$backup" ]] || die "one backup at a time"; backup="$arg" ;;
  esac
done
[[ -n "$backup" ]] || die "usage: restore.sh BACKUP_DIR [--force]"
[[ -d "$backup" ]] || die "backup not found (a directory written by backup.sh): $backup"
manifest="$backup/manifest.json"
[[ -f "$manifest" ]] || die "not a backup: $manifest is missing"
grep -q '"format": "podbrain-backup/1"' "$manifest" || die "not a backup of this format: $manifest"

local_mode=0
if [[ -n "${DATABASE_URL:-}" ]]; then
  [[ -n "${DATA_DIR:-}" ]] || die "DATABASE_URL is set but DATA_DIR is not: set both (this machine) or neither (compose)"
  local_mode=1
fi

# ---- 1. Verify: every listed file present, its size and sha256 as recorded, nothing else required.
entry_re='^ *\{"name": "([A-Za-z0-9._-]+)", "bytes": ([0-9]+), "sha256": "([0-9a-f]{64})"\},?$'
declare -A listed=()
while IFS= read -r line; do
  [[ "$line" =~ $entry_re ]] || continue
  f="${BASH_REMATCH[1]}" bytes="${BASH_REMATCH[2]}" sum="${BASH_REMATCH[3]}"
  listed[$f]=1
  [[ -f "$backup/$f" ]] || die "backup incomplete: $f is missing; nothing was changed"
  [[ "$(stat -c %s "$backup/$f")" == "$bytes" ]] || die "backup damaged: $f has $(stat -c %s "$backup/$f") bytes, the manifest says $bytes; nothing was changed"
  [[ "$(sha256sum "$backup/$f" | cut -d' ' -f1)" == "$sum" ]] || die "backup damaged: the checksum of $f does not match the manifest; nothing was changed"
done < "$manifest"
data_file=$(sed -n 's/.*"archive": "\(data\.tar\.\(zst\|gz\)\)".*/\1/p' "$manifest" | head -n 1)
[[ -n "$data_file" ]] || die "the manifest names no data archive; nothing was changed"
[[ -n "${listed[db.dump]:-}" && -n "${listed[$data_file]:-}" ]] || die "the manifest does not list db.dump and $data_file with checksums; nothing was changed"
case "$data_file" in
  *.zst) command -v zstd >/dev/null 2>&1 || die "zstd is needed to read $data_file"; unpack=(zstd -dc -q) ;;
  *) unpack=(gzip -dc) ;;
esac
"${unpack[@]}" "$backup/$data_file" | bash "$SCRIPTS/data-archive.sh" check || die "the data archive was refused; nothing was changed"
old_data_dir=$(sed -n 's/.*"data": {"dir": "\([^"]*\)".*/\1/p' "$manifest" | head -n 1)
audio=$(sed -n 's/.*"audio_included": \(true\|false\).*/\1/p' "$manifest" | head -n 1)
# pg_restore where it will restore (a compose host need not have the Postgres client tools).
if ((local_mode)); then
  pg_restore --list "$backup/db.dump" > /dev/null 2>&1
else
  compose exec -T postgres pg_restore --list < "$backup/db.dump" > /dev/null 2>&1
fi || die "db.dump is not a pg_dump custom-format archive; nothing was changed"
log "backup verified: $backup (audio included: ${audio:-unknown})"

# One psql query (-tA) or script (stdin), on this machine or in the postgres container.
psql_run() {
  if ((local_mode)); then
    psql --no-psqlrc -X -tA -q -v ON_ERROR_STOP=1 --dbname="$DATABASE_URL" "$@"
  else
    # shellcheck disable=SC2016 # expanded by the shell inside the postgres container
    compose exec -T postgres sh -c 'psql --no-psqlrc -X -tA -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" "$@"' sh "$@"
  fi
}

# ---- 2. Refuse to replace a library unless asked to.
if ((!force)); then
  if [[ "$(psql_run -c "SELECT to_regclass('public.episodes') IS NOT NULL AND to_regclass('public.feeds') IS NOT NULL")" == t ]] &&
    [[ "$(psql_run -c 'SELECT EXISTS (SELECT 1 FROM feeds) OR EXISTS (SELECT 1 FROM episodes)')" == t ]]; then
    die "the database already holds feeds or episodes; re-run with --force to replace them"
  fi
  if ((local_mode)) && [[ -d "$DATA_DIR/corpus" ]] && [[ -n "$(find "$DATA_DIR/corpus" -mindepth 1 -print -quit)" ]]; then
    die "DATA_DIR $DATA_DIR already holds artifacts; re-run with --force to replace them"
  fi
fi

# ---- 3. The database, in one transaction: the public schema is replaced as a whole.
writers=("${FRONT_SERVICES[@]}" "${WORKER_SERVICES[@]}")
if ((!local_mode)); then
  log "stopping ${writers[*]}"
  compose stop "${writers[@]}"
fi
# The transaction commits only when pg_restore read the whole dump; otherwise an error rolls it back.
preamble=$'SET client_min_messages = warning;\nBEGIN;\nDROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n'
failed=$'DO $$ BEGIN RAISE EXCEPTION \'pg_restore failed: the database is unchanged\'; END $$;\n'
if ((local_mode)); then
  { printf '%s' "$preamble"; if pg_restore --no-owner --no-privileges --file=- "$backup/db.dump"; then echo 'COMMIT;'; else printf '%s' "$failed"; fi; } | psql_run > /dev/null ||
    die "the database restore failed and was rolled back: the database is unchanged, the files were not touched"
else
  # shellcheck disable=SC2016
  compose exec -T postgres sh -c '{ printf "%s" "$1"; if pg_restore --no-owner --no-privileges --file=-; then echo "COMMIT;"; else printf "%s" "$2"; fi; } | psql --no-psqlrc -X -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"' sh "$preamble" "$failed" < "$backup/db.dump" > /dev/null ||
    die "the database restore failed and was rolled back: the database is unchanged, the files were not touched (start the roles again: docker compose up -d)"
fi
log "database restored"

# ---- 4. The files: extracted beside DATA_DIR's content, then swapped in.
script=$(cat "$SCRIPTS/data-archive.sh")
if ((local_mode)); then
  mkdir -p "$DATA_DIR"
  "${unpack[@]}" "$backup/$data_file" | bash -c "$script" data-archive extract "$DATA_DIR" || die "database restored but the files were not; fix the cause and re-run with --force"
  new_data_dir=$(cd "$DATA_DIR" && pwd)
else
  "${unpack[@]}" "$backup/$data_file" | compose run --rm --no-deps -T --entrypoint bash worker-io -c "$script" data-archive extract /data ||
    die "database restored but the files were not; fix the cause and re-run with --force"
  new_data_dir=/data
fi
# stage_runs remember artifact directories by absolute path: follow a DATA_DIR that moved.
if [[ -n "$old_data_dir" && "$old_data_dir" != "$new_data_dir" ]]; then
  psql_run -v old="$old_data_dir" -v new="$new_data_dir" <<'SQL'
UPDATE stage_runs SET artifact_path = :'new' || substr(artifact_path, length(:'old') + 1)
 WHERE artifact_path LIKE replace(replace(:'old', '%', '\%'), '_', '\_') || '/%';
SQL
  log "artifact paths moved from $old_data_dir to $new_data_dir"
fi
log "files restored into $new_data_dir"

# ---- 5. Back in service: the image's migrations (a backup of an older release), then the roles.
if ((!local_mode)); then
  compose run --rm migrate
  log "starting ${writers[*]}"
  compose up -d --no-deps "${WORKER_SERVICES[@]}"
  compose up -d --no-deps "${FRONT_SERVICES[@]}"
else
  log "restored; a newer podbrain than the backup's needs its migrations: podbrain db migrate"
fi
log "restored $backup"
