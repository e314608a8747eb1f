#!/usr/bin/env bash
# Backs up everything the appliance needs to come back: the database (pg_dump, custom format) and
# the data volume's artifacts, feed state and vector index (tar, zstd or gzip), with manifest.json
# (versions, sizes, sha256). One directory per backup in BACKUP_DIR (default deploy/backups),
# the newest BACKUP_KEEP (default 14) kept.
#   deploy/scripts/backup.sh [--no-audio]     # prints the new directory's path
# --no-audio (or BACKUP_AUDIO=false) leaves the downloaded audio out. With DATABASE_URL and DATA_DIR
# set it works on this machine; otherwise through compose (postgres and a worker-io container).
# The dump is taken first, then the files: files may be newer than the dump, never older (restore.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

audio="${BACKUP_AUDIO:-true}"
for arg in "$@"; do
  case "$arg" in
    --no-audio) audio=false ;;
    --audio) audio=true ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) die "unknown argument $arg (usage: backup.sh [--no-audio])" ;;
  esac
done
[[ "$audio" == true || "$audio" == false ]] || die "BACKUP_AUDIO must be true or false, got: $audio"
backup_dir="${BACKUP_DIR:-$PODBRAIN_ROOT/deploy/backups}"
keep="${BACKUP_KEEP:-14}"
[[ "$keep" =~ ^[1-9][0-9]*$ ]] || die "BACKUP_KEEP must be a positive number, got: $keep"
compress="${BACKUP_COMPRESS:-$(command -v zstd >/dev/null 2>&1 && echo zstd || echo gzip)}"
case "$compress" in
  zstd) command -v zstd >/dev/null 2>&1 || die "BACKUP_COMPRESS=zstd but zstd is not installed"; data_file=data.tar.zst; packer=(zstd -q -T0 -3 -c) ;;
  gzip) data_file=data.tar.gz; packer=(gzip -c -6) ;;
  *) die "BACKUP_COMPRESS must be zstd or gzip, got: $compress" ;;
esac

local_mode=0
if [[ -n "${DATABASE_URL:-}" ]]; then
  [[ -n "${DATA_DIR:-}" ]] || die "DATABASE_URL is set but DATA_DIR is not: set both (this machine) or neither (compose)"
  [[ -d "$DATA_DIR" ]] || die "DATA_DIR $DATA_DIR is not a directory"
  local_mode=1
fi
archive_args=(create)
if ((local_mode)); then archive_args+=("$DATA_DIR"); else archive_args+=(/data); fi
[[ "$audio" == false ]] && archive_args+=(--no-audio)

# One psql query (-tA): on this machine or in the postgres container.
sql() {
  if ((local_mode)); then
    psql --no-psqlrc -X -tA -v ON_ERROR_STOP=1 --dbname="$DATABASE_URL" -c "$1"
  else
    # shellcheck disable=SC2016 # expanded by the shell inside the postgres container
    compose exec -T postgres sh -c 'psql --no-psqlrc -X -tA -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$1"' sh "$1"
  fi
}

mkdir -p "$backup_dir"
stamp=$(date -u +%Y%m%dT%H%M%S.%NZ)
name="podbrain-$stamp"
dir="$backup_dir/$name"
part="$dir.partial"
mkdir "$part"
trap 'rm -rf "$part"' EXIT
t0=$SECONDS

# 1. The database (its snapshot is the backup's moment).
if ((local_mode)); then
  pg_dump --format=custom --no-owner --no-privileges --dbname="$DATABASE_URL" --file="$part/db.dump"
else
  # shellcheck disable=SC2016
  compose exec -T postgres sh -c 'pg_dump --format=custom --no-owner --no-privileges -U "$POSTGRES_USER" "$POSTGRES_DB"' > "$part/db.dump"
fi
# pg_restore where pg_dump ran (a compose host need not have the Postgres client tools).
if ((local_mode)); then
  pg_restore --list "$part/db.dump" > /dev/null || die "pg_dump wrote an unreadable archive"
else
  compose exec -T postgres pg_restore --list < "$part/db.dump" > /dev/null || die "pg_dump wrote an unreadable archive"
fi
pg_version=$(sql 'SHOW server_version' | head -n 1)
migration="" migrations=0 episodes=0
if [[ "$(sql "SELECT to_regclass('public.schema_migrations') IS NOT NULL")" == t ]]; then
  migration=$(sql 'SELECT name FROM schema_migrations ORDER BY id DESC LIMIT 1')
  migrations=$(sql 'SELECT count(*) FROM schema_migrations')
fi
[[ "$(sql "SELECT to_regclass('public.episodes') IS NOT NULL")" == t ]] && episodes=$(sql 'SELECT count(*) FROM episodes')

# 2. The data volume, after the dump: artifacts committed meanwhile are in, none are missing.
script=$(cat "$SCRIPTS/data-archive.sh")
if ((local_mode)); then
  bash -c "$script" data-archive "${archive_args[@]}" | "${packer[@]}" > "$part/$data_file"
  version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$PODBRAIN_ROOT/package.json" | head -n 1)
  git_sha="${GIT_SHA:-$(git -C "$PODBRAIN_ROOT" rev-parse HEAD 2>/dev/null || echo unknown)}"
  data_dir="$DATA_DIR"
else
  compose run --rm --no-deps -T --entrypoint bash worker-io -c "$script" data-archive "${archive_args[@]}" | "${packer[@]}" > "$part/$data_file"
  # shellcheck disable=SC2016
  read -r version git_sha < <(compose run --rm --no-deps -T --entrypoint sh worker-io -c 'echo "${PODBRAIN_VERSION:-unknown} ${GIT_SHA:-unknown}"')
  data_dir=/data
fi
"${packer[0]}" -t "$part/$data_file" 2>/dev/null || die "the data archive is damaged"
members=$("${packer[0]}" -dc "$part/$data_file" | tar --list --file=-)
audio_files=0
[[ "$audio" == true ]] && audio_files=$(grep -c -E '/ingest@[^/]+/audio\.[^/]+$' <<< "$members" || true)

# 3. The manifest: one file entry per line (restore.sh reads it with no JSON tool).
json() { local s="${1//\\/\\\\}"; s="${s//\"/\\\"}"; printf '"%s"' "$s"; }
{
  printf '{\n  "format": "podbrain-backup/1",\n'
  printf '  "created_at": %s,\n' "$(json "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
  printf '  "podbrain": {"version": %s, "git_sha": %s},\n' "$(json "${version:-unknown}")" "$(json "${git_sha:-unknown}")"
  printf '  "postgres": {"server_version": %s, "schema_migration": %s, "migrations": %s},\n' "$(json "$pg_version")" "$(json "$migration")" "${migrations:-0}"
  printf '  "data": {"dir": %s, "archive": %s, "compression": %s, "audio_included": %s, "audio_files": %s, "members": %s},\n' \
    "$(json "$data_dir")" "$(json "$data_file")" "$(json "$compress")" "$audio" "$audio_files" "$(grep -c . <<< "$members" || true)"
  printf '  "episodes": %s,\n' "${episodes:-0}"
  printf '  "files": [\n'
  sep=","
  for f in db.dump "$data_file"; do
    [[ "$f" == "$data_file" ]] && sep=""
    printf '    {"name": %s, "bytes": %s, "sha256": %s}%s\n' "$(json "$f")" "$(stat -c %s "$part/$f")" "$(json "$(sha256sum "$part/$f" | cut -d' ' -f1)")" "$sep"
  done
  printf '  ]\n}\n'
} > "$part/manifest.json"
mv "$part" "$dir"
trap - EXIT

# Rotation: newest first by name (the UTC timestamp sorts); only complete backups count.
mapfile -t old < <(find "$backup_dir" -mindepth 1 -maxdepth 1 -type d -name 'podbrain-*' ! -name '*.partial' -printf '%f\n' | sort -r | tail -n +"$((keep + 1))")
for f in "${old[@]}"; do rm -rf -- "${backup_dir:?}/$f"; done
log "backup written: $dir ($(du -sb "$dir" | cut -f1) bytes, audio $audio, $((SECONDS - t0)) s); kept newest $keep, removed ${#old[@]}"
printf '%s\n' "$dir"
