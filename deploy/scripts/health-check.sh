#!/usr/bin/env bash
# GET /healthz of every role and print one line each; exit 0 when all can work (healthy or
# degraded; --strict: healthy only), 1 otherwise. --wait N retries for up to N seconds.
#   deploy/scripts/health-check.sh [--wait SECONDS] [--strict] [--quiet]
# Targets: HEALTH_TARGETS="name=url ..." (default: the ports docker-compose.yml publishes on
# 127.0.0.1: api 8100, scheduler 9101, worker-io 9102, worker-gpu 9103, worker-ml 9104).
set -euo pipefail

wait_s=0
strict=0
quiet=0
while (($#)); do
  case "$1" in
    --wait) wait_s="${2:?--wait needs seconds}"; shift 2 ;;
    --strict) strict=1; shift ;;
    --quiet) quiet=1; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "health-check: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$wait_s" =~ ^[0-9]+$ ]] || { echo "health-check: --wait needs a number of seconds" >&2; exit 2; }

default_targets="api=http://127.0.0.1:${API_PORT:-8100}/healthz \
scheduler=http://127.0.0.1:${SCHEDULER_HEALTH_PORT:-9101}/healthz \
worker-io=http://127.0.0.1:${WORKER_IO_HEALTH_PORT:-9102}/healthz \
worker-gpu=http://127.0.0.1:${WORKER_GPU_HEALTH_PORT:-9103}/healthz \
worker-ml=http://127.0.0.1:${WORKER_ML_HEALTH_PORT:-9104}/healthz"
read -r -a targets <<< "${HEALTH_TARGETS:-$default_targets}"

check_all() {
  local failed=0 target name url body code status
  for target in "${targets[@]}"; do
    name="${target%%=*}"
    url="${target#*=}"
    code=0
    body=$(curl -sS --max-time 5 -w '\n%{http_code}' "$url" 2>/dev/null) || code=000
    if [[ "$code" != 000 ]]; then
      code="${body##*$'\n'}"
      body="${body%$'\n'*}"
    fi
    # The report's own status comes first in the JSON (checks follow it).
    status=$(grep -o -m 1 '"status":"[a-z]*"' <<< "$body" | head -n 1 | cut -d '"' -f 4 || true)
    status="${status:-unreachable}"
    if [[ "$code" != 200 || "$status" == unhealthy || "$status" == unreachable ]] || { ((strict)) && [[ "$status" != healthy ]]; }; then
      failed=1
    fi
    ((quiet)) || printf '%-12s %-11s %s\n' "$name" "$status" "$code"
  done
  return "$failed"
}

deadline=$((SECONDS + wait_s))
while true; do
  if check_all; then exit 0; fi
  if ((SECONDS >= deadline)); then exit 1; fi
  ((quiet)) || echo "-- not all roles healthy yet; retrying" >&2
  sleep "${HEALTH_RETRY_S:-5}"
done
