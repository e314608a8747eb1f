#!/usr/bin/env bash
# Deploys image tag TAG (default: latest) of the appliance (blueprint F.3.3):
#   deploy/scripts/deploy.sh [TAG] [--build]
# 1. remembers the running tag (deploy/.state/previous-tag, history) and the running images;
# 2. pulls TAG (or builds it with --build); a failed pull/build changes nothing;
# 3. restarts in order: postgres, redis (waits healthy) → migrations → workers and
#    scheduler → api and caddy;
# 4. health gate: every role's /healthz within HEALTH_TIMEOUT_S (default 180);
# 5. on failure rolls back automatically to the remembered tag (rollback.sh) and exits 1.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tag=latest
build=0
for arg in "$@"; do
  case "$arg" in
    --build) build=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    -*) die "unknown option $arg" ;;
    *) tag="$arg" ;;
  esac
done
valid_tag "$tag" || die "invalid image tag: $tag"

previous=$(current_tag)
mkdir -p "$DEPLOY_STATE_DIR"
printf '%s\n' "$previous" > "$DEPLOY_STATE_DIR/previous-tag"
compose images > "$DEPLOY_STATE_DIR/previous-images.txt" 2>/dev/null || true
record "deploy-start $tag (previous $previous)"
log "deploying $tag (previous: $previous)"

export PODBRAIN_TAG="$tag"
if ((build)); then
  compose build || { record "deploy-failed $tag (build)"; die "build of $tag failed; nothing was restarted"; }
else
  compose pull || { record "deploy-failed $tag (pull)"; die "pull of $tag failed; nothing was restarted"; }
fi
set_tag "$tag"

if rolling_restart --migrate; then
  printf '%s\n' "$tag" > "$DEPLOY_STATE_DIR/current-tag"
  record "deploy-ok $tag"
  log "deploy of $tag healthy"
  exit 0
fi

record "deploy-failed $tag (health gate)"
log "deploy of $tag failed the health gate: rolling back to $previous"
"$(dirname "${BASH_SOURCE[0]}")/rollback.sh" "$previous" || die "rollback to $previous failed too: act by hand (docker compose ps, logs)"
exit 1
