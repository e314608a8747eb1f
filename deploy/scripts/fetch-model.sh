#!/bin/sh
# Fetches the whisper.cpp model named by WHISPER_MODEL (e.g. base.en) into MODELS_DIR as
# ggml-<name>.bin, unless a valid file is already there. The appliance's only download
# (docker-compose.yml service `models`, first start); also usable by hand:
#   deploy/scripts/fetch-model.sh base.en
# Skips when ASR_ENGINES does not use whisper-cpp. POSIX sh: runs in the curl image.
set -eu

model="${1:-${WHISPER_MODEL:-base.en}}"
models_dir="${MODELS_DIR:-./models}"
base_url="${WHISPER_MODEL_BASE_URL:-https://huggingface.co/ggerganov/whisper.cpp/resolve/main}"
engines="${ASR_ENGINES:-feed,whisper-cpp}"

case ",$engines," in
  *,whisper-cpp,*) ;;
  *) echo "fetch-model: ASR_ENGINES=$engines does not use whisper-cpp; nothing to fetch"; exit 0 ;;
esac

case "$model" in
  *[!A-Za-z0-9._-]*|'') echo "fetch-model: invalid model name '$model' (letters, digits, . _ - only)" >&2; exit 2 ;;
esac

file="$models_dir/ggml-$model.bin"

# whisper.cpp ggml files start with the magic 0x67676d6c stored little-endian ("lmgg").
has_ggml_magic() {
  [ -s "$1" ] && [ "$(head -c 4 "$1")" = "lmgg" ]
}

if has_ggml_magic "$file"; then
  echo "fetch-model: $file present ($(wc -c < "$file") bytes); nothing to do"
  exit 0
fi

mkdir -p "$models_dir"
tmp="$file.part"
url="$base_url/ggml-$model.bin"
echo "fetch-model: downloading $url"
curl --fail --location --retry 3 --retry-delay 5 --continue-at - --output "$tmp" "$url"
if ! has_ggml_magic "$tmp"; then
  echo "fetch-model: $url is not a ggml model (bad header); removed" >&2
  rm -f "$tmp"
  exit 1
fi
mv -f "$tmp" "$file"
echo "fetch-model: saved $file ($(wc -c < "$file") bytes)"
