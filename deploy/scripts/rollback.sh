#!/usr/bin/env bash
# Rolls the appliance back to TAG (default: the tag remembered by the last deploy,
# deploy/.state/previous-tag), restarting in the same order as deploy.sh and passing the
# same health gate. Database migrations are not reverted (they are written to stay
# compatible with the previous release; `podbrain db revert` exists for the rare case).
#   deploy/scripts/rollback.sh [TAG]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in -h|--help) sed -n '2,7p' "$0"; exit 0 ;; esac
target="${1:-}"
if [[ -z "$target" ]]; then
  [[ -s "$DEPLOY_STATE_DIR/previous-tag" ]] || die "no previous tag remembered in $DEPLOY_STATE_DIR/previous-tag; name one: rollback.sh TAG"
  target=$(head -n 1 "$DEPLOY_STATE_DIR/previous-tag")
fi
valid_tag "$target" || die "invalid image tag: $target"

from=$(current_tag)
log "rolling back from $from to $target"
record "rollback-start $target (from $from)"
set_tag "$target"
if rolling_restart --no-migrate; then
  printf '%s\n' "$target" > "$DEPLOY_STATE_DIR/current-tag"
  record "rollback-ok $target"
  log "rollback to $target healthy"
  exit 0
fi
record "rollback-failed $target"
die "rollback to $target did not pass the health gate"
