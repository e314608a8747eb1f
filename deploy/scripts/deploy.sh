#!/usr/bin/env bash
# Deploys image tag TAG (default: latest) of the appliance (blueprint F.3.3):
#   deploy/scripts/deploy.sh [TAG] [--build | --local]
# 1. remembers the running tag (deploy/.state/previous-tag, history) and the running images;
# 2. pulls TAG (or builds it with --build; --local: uses images already in the engine, e.g.
#    loaded with `docker load`, and checks they are there); a failed pull/build changes nothing;
# 3. restarts in order: postgres, redis (waits healthy) → migrations → workers and
#    scheduler → api and caddy;
# 4. health gate: every role's /healthz within HEALTH_TIMEOUT_S (default 180);
# 5. on failure rolls back automatically to the remembered tag (rollback.sh) and exits 1.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tag=latest
build=0
local_images=0
for arg in "$@"; do
  case "$arg" in
    --build) build=1 ;;
    --local) local_images=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
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
  GIT_SHA="${GIT_SHA:-$(git -C "$PODBRAIN_ROOT" rev-parse HEAD 2>/dev/null || echo unknown)}"
  export GIT_SHA
  compose build || { record "deploy-failed $tag (build)"; die "build of $tag failed; nothing was restarted"; }
elif ((local_images)); then
  # the images of this tag (the podbrain roles and the viewer) must be in the engine already
  missing=$(compose config 2>/dev/null | awk -v tag=":$tag" '$1 == "image:" && substr($2, length($2) - length(tag) + 1) == tag {print $2}' | sort -u | while read -r image; do
    docker image inspect "$image" >/dev/null 2>&1 || printf '%s ' "$image"
  done)
  [[ -z "$missing" ]] || { record "deploy-failed $tag (images missing)"; die "images not in the engine: $missing; nothing was restarted"; }
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
