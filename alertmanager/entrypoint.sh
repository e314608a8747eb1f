#!/bin/sh
# Renders alertmanager.yml.tmpl (beside this script) from the environment, writes the agent's
# bearer token to a file only the process reads, then runs Alertmanager with the result and the
# arguments given. POSIX sh + awk: runs in prom/alertmanager (busybox) and in Debian's package.
#   entrypoint.sh [alertmanager flags]   render, then exec alertmanager
#   entrypoint.sh --render-only          render, print the config's path, exit
# Environment: AGENT_WEBHOOK_URL (default http://api:8100/api/admin/alerts), AGENT_WEBHOOK_TOKEN
# (else AUTH_API_KEY; neither = no Authorization header), ALERTMANAGER_WEBHOOK_URL, NOTIFY_EMAIL_TO
# with SMTP_HOST, SMTP_PORT (587), SMTP_SECURITY (starttls | tls | none), SMTP_USER,
# SMTP_PASSWORD, SMTP_FROM; ALERTMANAGER_GROUP_WAIT (10s), ALERTMANAGER_GROUP_INTERVAL (1m),
# ALERTMANAGER_RESOLVE_TIMEOUT (5m; tests shorten them);
# ALERTMANAGER_RENDER_DIR (where the rendered files go, default /tmp/podbrain-alertmanager).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="${ALERTMANAGER_RENDER_DIR:-/tmp/podbrain-alertmanager}"
umask 077
mkdir -p "$out"

export AGENT_WEBHOOK_URL="${AGENT_WEBHOOK_URL:-http://api:8100/api/admin/alerts}"
export AGENT_TOKEN="${AGENT_WEBHOOK_TOKEN:-${AUTH_API_KEY:-}}"
export AGENT_TOKEN_FILE="$out/agent-token"
printf '%s' "$AGENT_TOKEN" > "$AGENT_TOKEN_FILE"
export GROUP_WAIT="${ALERTMANAGER_GROUP_WAIT:-10s}" GROUP_INTERVAL="${ALERTMANAGER_GROUP_INTERVAL:-1m}" RESOLVE_TIMEOUT="${ALERTMANAGER_RESOLVE_TIMEOUT:-5m}"

export EMAIL_ENABLED="" SMTP_STARTTLS="" SMTP_NO_STARTTLS=""
if [ -n "${NOTIFY_EMAIL_TO:-}" ] && [ -n "${SMTP_HOST:-}" ]; then
  EMAIL_ENABLED=1
  export SMTP_SMARTHOST="$SMTP_HOST:${SMTP_PORT:-587}"
  export SMTP_FROM="${SMTP_FROM:-podbrain@$SMTP_HOST}"
  # Alertmanager speaks implicit TLS on port 465 by itself; require_tls asks for STARTTLS
  case "${SMTP_SECURITY:-starttls}" in starttls) export SMTP_STARTTLS=1 ;; *) export SMTP_NO_STARTTLS=1 ;; esac
  export SMTP_USER="${SMTP_USER:-}" SMTP_PASSWORD="${SMTP_PASSWORD:-}"
elif [ -n "${NOTIFY_EMAIL_TO:-}" ]; then
  echo "alertmanager: NOTIFY_EMAIL_TO is set but SMTP_HOST is not: no e-mail from Alertmanager" >&2
fi
export OWNER_CHANNEL=""
if [ -n "$EMAIL_ENABLED" ] || [ -n "${ALERTMANAGER_WEBHOOK_URL:-}" ]; then OWNER_CHANNEL=1; fi
export ALERTMANAGER_WEBHOOK_URL="${ALERTMANAGER_WEBHOOK_URL:-}" NOTIFY_EMAIL_TO="${NOTIFY_EMAIL_TO:-}"

awk '
  function quote(s,   r, i, c) {
    r = ""
    for (i = 1; i <= length(s); i++) {
      c = substr(s, i, 1)
      if (c == "\\" || c == "\"") r = r "\\" c
      else if (c == "\n") r = r "\\n"
      else if (c == "\t") r = r "\\t"
      else r = r c
    }
    return "\"" r "\""
  }
  BEGIN { depth = 0; skip = 0 }
  /^[ \t]*#if [A-Z_][A-Z0-9_]*[ \t]*$/ {
    split($0, w, " "); depth++
    if (!skip && ENVIRON[w[2]] == "") skip = depth
    next
  }
  /^[ \t]*#endif[ \t]*$/ { if (skip == depth) skip = 0; depth--; next }
  skip { next }
  {
    line = $0; res = ""
    while (match(line, /\$\{[A-Z_][A-Z0-9_]*\}/)) {
      res = res substr(line, 1, RSTART - 1) quote(ENVIRON[substr(line, RSTART + 2, RLENGTH - 3)])
      line = substr(line, RSTART + RLENGTH)
    }
    print res line
  }
  END { if (depth != 0) { print "alertmanager.yml.tmpl: unbalanced #if/#endif" > "/dev/stderr"; exit 1 } }
' "$here/alertmanager.yml.tmpl" > "$out/alertmanager.yml"

if [ "${1:-}" = "--render-only" ]; then
  echo "$out/alertmanager.yml"
  exit 0
fi
bin=$(command -v alertmanager || command -v prometheus-alertmanager || echo /bin/alertmanager)
exec "$bin" --config.file="$out/alertmanager.yml" "$@"
