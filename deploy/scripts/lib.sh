#!/usr/bin/env bash
# Shared helpers for the deploy scripts (sourced, not run).
# COMPOSE: the compose command (default: "docker compose" when Compose v2 is installed, else
# "docker-compose", v1); COMPOSE_FILES: its -f flags
# (default docker-compose.yml, plus docker-compose.gpu.yml when PODBRAIN_GPU=1);
# ENV_FILE: the appliance's .env (PODBRAIN_TAG lives there; the containers' env_file too);
# DEPLOY_STATE_DIR: remembered tags.

PODBRAIN_ROOT="${PODBRAIN_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
ENV_FILE="${ENV_FILE:-$PODBRAIN_ROOT/.env}"
[[ "$ENV_FILE" == /* ]] || ENV_FILE="$PWD/$ENV_FILE"
# The containers read the same file (docker-compose.yml: env_file ${PODBRAIN_ENV_FILE:-.env}).
export PODBRAIN_ENV_FILE="${PODBRAIN_ENV_FILE:-$ENV_FILE}"
DEPLOY_STATE_DIR="${DEPLOY_STATE_DIR:-$PODBRAIN_ROOT/deploy/.state}"
HEALTH_CHECK="${HEALTH_CHECK:-$PODBRAIN_ROOT/deploy/scripts/health-check.sh}"
HEALTH_TIMEOUT_S="${HEALTH_TIMEOUT_S:-180}"

# Restart order (blueprint F.3.3): infrastructure → workers → api and front door.
INFRA_SERVICES=(postgres redis)
WORKER_SERVICES=(worker-io worker-gpu worker-ml scheduler)
FRONT_SERVICES=(api caddy)

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Compose v2 (`docker compose`) when present, else v1 (`docker-compose`). Only flags both
# understand are used below: no `up --wait` (v1 prints its usage and exits 0), own health wait.
compose_command() {
  if [[ -n "${COMPOSE:-}" ]]; then
    printf '%s\n' "$COMPOSE"
  elif docker compose version >/dev/null 2>&1; then
    printf '%s\n' "docker compose"
  elif command -v docker-compose >/dev/null 2>&1; then
    printf '%s\n' "docker-compose"
  else
    die "neither 'docker compose' (v2) nor 'docker-compose' (v1) is installed"
  fi
}

compose() {
  local -a cmd files
  [[ -n "${COMPOSE_RESOLVED:-}" ]] || COMPOSE_RESOLVED=$(compose_command)
  read -r -a cmd <<< "$COMPOSE_RESOLVED"
  if [[ -n "${COMPOSE_FILES:-}" ]]; then
    read -r -a files <<< "$COMPOSE_FILES"
  else
    files=(-f "$PODBRAIN_ROOT/docker-compose.yml")
    [[ "${PODBRAIN_GPU:-0}" == 1 ]] && files+=(-f "$PODBRAIN_ROOT/docker-compose.gpu.yml")
  fi
  if [[ -f "$ENV_FILE" ]]; then
    "${cmd[@]}" --env-file "$ENV_FILE" "${files[@]}" "$@"
  else
    "${cmd[@]}" "${files[@]}" "$@"
  fi
}

# PODBRAIN_TAG from the .env file ("latest" when unset).
current_tag() {
  local line
  line=$(grep -E '^PODBRAIN_TAG=' "$ENV_FILE" 2>/dev/null | tail -n 1 || true)
  line="${line#PODBRAIN_TAG=}"
  line="${line%\"}"
  line="${line#\"}"
  printf '%s\n' "${line:-latest}"
}

valid_tag() { [[ "$1" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; }

# Writes PODBRAIN_TAG into .env (replacing the line or appending it) and exports it, so
# every following compose call uses that image tag.
set_tag() {
  local tag="$1" tmp
  valid_tag "$tag" || die "invalid image tag: $tag"
  touch "$ENV_FILE"
  tmp=$(mktemp "$ENV_FILE.XXXXXX")
  grep -v -E '^PODBRAIN_TAG=' "$ENV_FILE" > "$tmp" || true
  printf 'PODBRAIN_TAG=%s\n' "$tag" >> "$tmp"
  mv -f "$tmp" "$ENV_FILE"
  export PODBRAIN_TAG="$tag"
}

record() {
  mkdir -p "$DEPLOY_STATE_DIR"
  printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >> "$DEPLOY_STATE_DIR/history"
}

# Waits until each named service's container reports healthy (its healthcheck) or, for a
# service without one, is running. WAIT_HEALTHY_S (default 120) seconds in all.
wait_healthy() {
  local deadline=$((SECONDS + ${WAIT_HEALTHY_S:-120})) svc id state pending
  while true; do
    pending=()
    for svc in "$@"; do
      id=$(compose ps -q "$svc" 2>/dev/null | head -n 1 || true)
      state=missing
      [[ -n "$id" ]] && state=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id" 2>/dev/null || echo missing)
      [[ "$state" == healthy || "$state" == running ]] || pending+=("$svc=$state")
    done
    ((${#pending[@]} == 0)) && return 0
    if ((SECONDS >= deadline)); then
      log "not healthy in time: ${pending[*]}"
      return 1
    fi
    sleep "${WAIT_HEALTHY_RETRY_S:-2}"
  done
}

# Restarts the stack on the exported PODBRAIN_TAG in order and waits for every role's /healthz.
# $1: --migrate (run the migrate service after the infrastructure) or --no-migrate.
rolling_restart() {
  log "infrastructure: ${INFRA_SERVICES[*]}"
  compose up -d "${INFRA_SERVICES[@]}" || return 1
  wait_healthy "${INFRA_SERVICES[@]}" || return 1
  if [[ "${1:?--migrate or --no-migrate}" == --migrate ]]; then
    log "migrations"
    compose run --rm migrate || return 1
  fi
  log "workers: ${WORKER_SERVICES[*]}"
  compose up -d --no-deps "${WORKER_SERVICES[@]}" || return 1
  log "api and front door: ${FRONT_SERVICES[*]}"
  compose up -d --no-deps "${FRONT_SERVICES[@]}" || return 1
  log "health gate (up to ${HEALTH_TIMEOUT_S}s)"
  "$HEALTH_CHECK" --wait "$HEALTH_TIMEOUT_S"
}
