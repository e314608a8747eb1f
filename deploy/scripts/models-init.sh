#!/bin/sh
# Entry point of the compose service `models` (first start, runs as root): makes the models
# and data volumes writable for the roles' user (uid 10001; Docker creates a new named volume
# root-owned), then runs fetch-embeddings-model.sh and fetch-model.sh as that user. Without root
# it only fetches. The embedding model is optional (EMBEDDINGS_PROVIDER=auto searches with hash
# until it is there), so an offline first start does not stop the roles from starting.
#   MODELS_DIR (/models), DATA_DIR (/data), PODBRAIN_UID (10001); arguments go to fetch-model.sh.
set -eu
here=$(dirname "$0")
uid="${PODBRAIN_UID:-10001}"
models_dir="${MODELS_DIR:-/models}"
data_dir="${DATA_DIR:-/data}"

embeddings_failed() {
  echo "models-init: the embedding model was not fetched; search uses hash embeddings until it is (rerun: docker compose run --rm models)" >&2
}

if [ "$(id -u)" != 0 ]; then
  /bin/sh "$here/fetch-embeddings-model.sh" || embeddings_failed
  exec /bin/sh "$here/fetch-model.sh" "$@"
fi
mkdir -p "$models_dir" "$data_dir"
# The models volume holds a few files: all of them. The data volume can be large: only its root.
chown -R "$uid:$uid" "$models_dir"
[ "$(stat -c %u:%g "$data_dir")" = "$uid:$uid" ] || chown "$uid:$uid" "$data_dir"
echo "models-init: $models_dir and $data_dir belong to uid $uid"
setpriv --reuid="$uid" --regid="$uid" --clear-groups /bin/sh "$here/fetch-embeddings-model.sh" || embeddings_failed
exec setpriv --reuid="$uid" --regid="$uid" --clear-groups /bin/sh "$here/fetch-model.sh" "$@"
