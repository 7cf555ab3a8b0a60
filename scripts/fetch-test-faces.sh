#!/bin/sh
# Fetches real face photos for the crop tests into .cache/faces/ (gitignored; never
# commit them). Source: the scikit-image wheel on PyPI, which ships
# skimage/data/astronaut.png (Eileen Collins, NASA, public domain).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.cache/faces"
if [ -s "$dest/astronaut.png" ]; then
    echo "faces already in $dest"
    exit 0
fi
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if command -v pip3 >/dev/null 2>&1; then pip=pip3; else pip="python3 -m pip"; fi
# Any platform's wheel holds the same data files; --only-binary avoids a source build.
$pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" scikit-image
wheel=$(ls "$tmp"/scikit_image-*.whl | head -n 1)
python3 - "$wheel" "$dest" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    data = z.read("skimage/data/astronaut.png")
with open(dest + "/astronaut.png", "wb") as f:
    f.write(data)
PY
echo "fetched $dest/astronaut.png"
