#!/bin/sh
# Entry point of the compose service `models` (first start, runs as root): makes the models
# and data volumes writable for the roles' user (uid 10001; Docker creates a new named volume
# root-owned), then runs fetch-model.sh as that user. Without root it only fetches.
#   MODELS_DIR (/models), DATA_DIR (/data), PODBRAIN_UID (10001); arguments go to fetch-model.sh.
set -eu
here=$(dirname "$0")
uid="${PODBRAIN_UID:-10001}"
models_dir="${MODELS_DIR:-/models}"
data_dir="${DATA_DIR:-/data}"

if [ "$(id -u)" != 0 ]; then
  exec /bin/sh "$here/fetch-model.sh" "$@"
fi
mkdir -p "$models_dir" "$data_dir"
# The models volume holds a few files: all of them. The data volume can be large: only its root.
chown -R "$uid:$uid" "$models_dir"
[ "$(stat -c %u:%g "$data_dir")" = "$uid:$uid" ] || chown "$uid:$uid" "$data_dir"
echo "models-init: $models_dir and $data_dir belong to uid $uid"
exec setpriv --reuid="$uid" --regid="$uid" --clear-groups /bin/sh "$here/fetch-model.sh" "$@"
