#!/usr/bin/env bash
# The data volume's half of backup.sh / restore.sh (a tar stream, never compressed here).
#   data-archive.sh create DATA_DIR [--no-audio]   # tar of index/, corpus/, feeds/ on stdout
#   data-archive.sh check                          # stdin: a tar; exit 1 unless every member is safe
#   data-archive.sh extract DATA_DIR               # stdin: a checked tar; replaces index/, corpus/, feeds/
# It runs on the host (DATA_DIR set) or, in compose, inside a role's container (bash, GNU tar and
# coreutils are in the image): backup.sh / restore.sh pass its text to `bash -c`, so it sources nothing.
set -euo pipefail
export LC_ALL=C

die() { printf '%s error: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; exit 1; }

# What a backup holds (ARCHITECTURE §5); tmp/ (staging) is never backed up.
TOP_DIRS=(index corpus feeds)
# Audio kept in artifact directories (as control/clean-audio.ts): the ingest download is audio.<ext>.
AUDIO_PATTERNS=('ingest@*/audio.*' '*.mp3' '*.m4a' '*.mp4' '*.aac' '*.ogg' '*.oga' '*.opus' '*.wav' '*.flac' '*.webm' '*.wma' '*.aif' '*.aiff')

# The corpus FAISS index's current generation, hard-linked into $1/index: generations are written
# whole and never changed, but a writer may prune one while tar reads it. Hard links keep the files.
snapshot_index() {
  local data="$1" snap="$2" gen try
  [[ -f "$data/index/CURRENT" ]] || return 0
  for try in 1 2 3 4 5; do
    gen=$(head -n 1 "$data/index/CURRENT")
    [[ "$gen" =~ ^gen-[0-9]{8}$ ]] || die "index/CURRENT names no generation: $gen"
    rm -rf "$snap/index"
    mkdir -p "$snap/index"
    if { cp -al "$data/index/$gen" "$snap/index/$gen" 2>/dev/null || cp -a "$data/index/$gen" "$snap/index/$gen" 2>/dev/null; } &&
      [[ -f "$snap/index/$gen/manifest.json" && "$(head -n 1 "$data/index/CURRENT")" == "$gen" ]]; then
      printf '%s\n' "$gen" > "$snap/index/CURRENT"
      return 0
    fi
    sleep "0.$try"
  done
  die "the vector index kept changing while it was being copied; try again"
}

create() {
  local data="${1:?DATA_DIR}" audio="${2:-}" snap rc=0 d
  local -a members=() excludes=(--exclude='*.tmp-*' --exclude='.tmp-*')
  [[ -d "$data" ]] || die "DATA_DIR $data is not a directory"
  mkdir -p "$data/tmp"
  snap=$(mktemp -d "$data/tmp/backup-XXXXXX")
  # shellcheck disable=SC2064 # expand now: the path is fixed
  trap "rm -rf '$snap'" EXIT
  snapshot_index "$data" "$snap"
  [[ "$audio" == --no-audio ]] && for p in "${AUDIO_PATTERNS[@]}"; do excludes+=(--exclude="$p"); done
  [[ -d "$snap/index" ]] && members+=(-C "$snap" index)
  for d in corpus feeds; do [[ -d "$data/$d" ]] && members+=(-C "$data" "$d"); done
  # Index first, then the artifacts: the archive's artifacts are never older than its index.
  # Committed artifacts are never rewritten, only removed (clean-artifacts, reprocess): a file
  # removed while tar runs is left out (tar exit 1), not an error.
  tar --create --file=- --format=gnu --sort=name --numeric-owner --ignore-failed-read \
    --warning=no-file-removed --warning=no-file-changed "${excludes[@]}" "${members[@]}" || rc=$?
  ((rc <= 1)) || die "tar failed ($rc)"
}

# Every member must be a plain file or a directory under one of TOP_DIRS, with a plain relative
# name: no absolute path, no `..`, no links or devices (a symlink could point a later member out).
check() {
  local listing perms owner size day time name top
  local name_re='^[A-Za-z0-9_@+.-]+(/[A-Za-z0-9_@+.-]+)*/?$'
  listing=$(tar --list --verbose --numeric-owner --quoting-style=escape --file=-) || die "the data archive is not a readable tar"
  while read -r perms owner size day time name; do
    [[ -n "$perms" ]] || continue
    case "${perms:0:1}" in
      -|d) ;;
      *) die "unsafe archive member (type ${perms:0:1}: links and devices are refused): $name" ;;
    esac
    [[ "$name" =~ $name_re ]] || die "unsafe archive member name: $name"
    [[ "/$name/" != *"/../"* && "/$name/" != *"/./"* ]] || die "unsafe archive member name: $name"
    top="${name%%/*}"
    [[ " ${TOP_DIRS[*]} " == *" ${top%/} "* ]] || die "unexpected archive member (only ${TOP_DIRS[*]}): $name"
  done <<< "$listing"
  : "$owner$size$day$time"
}

# Extracts into DATA_DIR/tmp, checks the result again, then swaps each top directory in
# (the old one is removed): a failed extract leaves DATA_DIR as it was.
extract() {
  local data="${1:?DATA_DIR}" stage d bad
  mkdir -p "$data/tmp"
  stage=$(mktemp -d "$data/tmp/restore-XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$stage'" EXIT
  mkdir "$stage/new" "$stage/old"
  tar --extract --file=- --directory="$stage/new" --no-same-owner --no-same-permissions --no-overwrite-dir --delay-directory-restore ||
    die "the data archive could not be extracted; DATA_DIR is unchanged"
  bad=$(find "$stage/new" -mindepth 1 ! -type f ! -type d -print -quit)
  [[ -z "$bad" ]] || die "the data archive holds a link or device (${bad#"$stage/new/"}); DATA_DIR is unchanged"
  for d in "$stage/new"/*; do
    [[ -e "$d" ]] || continue
    [[ " ${TOP_DIRS[*]} " == *" ${d##*/} "* ]] || die "unexpected top directory ${d##*/}; DATA_DIR is unchanged"
  done
  for d in "${TOP_DIRS[@]}"; do
    if [[ -e "$data/$d" ]]; then mv "$data/$d" "$stage/old/$d"; fi
    if [[ -e "$stage/new/$d" ]]; then mv "$stage/new/$d" "$data/$d"; fi
  done
}

case "${1:-}" in
  create) shift; create "$@" ;;
  check) check ;;
  extract) shift; extract "$@" ;;
  -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
  *) die "usage: data-archive.sh create DATA_DIR [--no-audio] | check | extract DATA_DIR" ;;
esac
