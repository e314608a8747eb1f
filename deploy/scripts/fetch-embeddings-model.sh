#!/bin/sh
# Fetches the ONNX sentence-embedding model (EMBEDDINGS_MODEL, default all-MiniLM-L6-v2, int8
# quantised, ~23 MB) into MODELS_DIR/embeddings/<name>/ as model.onnx + tokenizer.json +
# config.json, unless a model whose SHA-256 matches EMBEDDINGS_MODEL_SHA256 is already there.
# Files come from EMBEDDINGS_MODEL_URL (a Hugging Face revision: onnx/model_quantized.onnx,
# tokenizer.json, config.json under it). model.onnx is moved into place last, so its presence
# means the set is complete. Run by models-init.sh on first start (a failure there, e.g. an
# offline box, is not fatal: EMBEDDINGS_PROVIDER=auto uses hash until the model is there);
# also usable by hand:
#   deploy/scripts/fetch-embeddings-model.sh
# Skips when EMBEDDINGS_PROVIDER is hash or openai, or EMBEDDINGS_MODEL_PATH names a model.
set -eu

default_name=all-MiniLM-L6-v2
default_sha=afdb6f1a0e45b715d0bb9b11772f032c399babd23bfc31fed1c170afc848bdb1
default_url=https://huggingface.co/Xenova/all-MiniLM-L6-v2/resolve/751bff37182d3f1213fa05d7196b954e230abad9

provider="${EMBEDDINGS_PROVIDER:-auto}"
name="${EMBEDDINGS_MODEL:-$default_name}"
base_url="${EMBEDDINGS_MODEL_URL:-$default_url}"
models_dir="${MODELS_DIR:-./models}"
# The pinned checksum is the default model's; another model is checked against the one given.
if [ "$name" = "$default_name" ]; then sha="${EMBEDDINGS_MODEL_SHA256:-$default_sha}"; else sha="${EMBEDDINGS_MODEL_SHA256:-}"; fi

case "$provider" in
  auto|onnx) ;;
  *) echo "fetch-embeddings-model: EMBEDDINGS_PROVIDER=$provider does not use a local model; nothing to fetch"; exit 0 ;;
esac
if [ -n "${EMBEDDINGS_MODEL_PATH:-}" ]; then
  echo "fetch-embeddings-model: EMBEDDINGS_MODEL_PATH=$EMBEDDINGS_MODEL_PATH names the model; nothing to fetch"
  exit 0
fi
case "$name" in
  *[!A-Za-z0-9._-]*|''|.*) echo "fetch-embeddings-model: invalid model name '$name' (letters, digits, . _ - only)" >&2; exit 2 ;;
esac
if [ -n "$sha" ] && ! printf '%s' "$sha" | grep -Eq '^[0-9a-f]{64}$'; then
  echo "fetch-embeddings-model: EMBEDDINGS_MODEL_SHA256 must be 64 lower-case hex digits" >&2
  exit 2
fi

dir="$models_dir/embeddings/$name"
model="$dir/model.onnx"
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -s "$model" ] && [ -s "$dir/tokenizer.json" ]; then
  if [ -z "$sha" ] || [ "$(sha_of "$model")" = "$sha" ]; then
    echo "fetch-embeddings-model: $dir present; nothing to do"
    exit 0
  fi
  echo "fetch-embeddings-model: $model does not match EMBEDDINGS_MODEL_SHA256; fetching it again"
fi

mkdir -p "$dir"
cleanup() { rm -f "$dir"/*.part; }
trap cleanup EXIT
fetch() {
  echo "fetch-embeddings-model: downloading $1"
  curl --fail --location --silent --show-error --retry 2 --retry-delay 3 --connect-timeout 20 --output "$2" "$1"
}

fetch "$base_url/onnx/model_quantized.onnx" "$model.part"
actual=$(sha_of "$model.part")
if [ -n "$sha" ] && [ "$actual" != "$sha" ]; then
  echo "fetch-embeddings-model: $base_url/onnx/model_quantized.onnx has SHA-256 $actual, expected $sha; removed" >&2
  exit 1
fi
[ -n "$sha" ] || echo "fetch-embeddings-model: no EMBEDDINGS_MODEL_SHA256 for $name: not verified (SHA-256 $actual)"
fetch "$base_url/tokenizer.json" "$dir/tokenizer.json.part"
if ! grep -q '"WordPiece"' "$dir/tokenizer.json.part"; then
  echo "fetch-embeddings-model: $base_url/tokenizer.json is not a WordPiece tokenizer.json; removed" >&2
  exit 1
fi
fetch "$base_url/config.json" "$dir/config.json.part"
if ! grep -q '"hidden_size"' "$dir/config.json.part"; then
  echo "fetch-embeddings-model: $base_url/config.json has no hidden_size; removed" >&2
  exit 1
fi
mv -f "$dir/config.json.part" "$dir/config.json"
mv -f "$dir/tokenizer.json.part" "$dir/tokenizer.json"
mv -f "$model.part" "$model"
echo "fetch-embeddings-model: saved $dir ($(wc -c < "$model") bytes, SHA-256 $actual)"
