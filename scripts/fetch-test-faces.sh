#!/usr/bin/env bash
# Fetches real face photos for the face-crop tests into .cache/faces (never committed):
# scikit-image's sample data (astronaut Eileen Collins, NASA, public domain), taken from
# its PyPI wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/faces
[ -f "$dest/astronaut.png" ] && exit 0
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" scikit-image >/dev/null
wheel=$(ls "$tmp"/scikit_image-*.whl | head -n 1)
python3 - "$wheel" "$dest" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.endswith("data/astronaut.png"):
            with open(f"{dest}/astronaut.png", "wb") as f:
                f.write(z.read(name))
            break
    else:
        sys.exit("astronaut.png not found in " + wheel)
PY
echo "fetched $dest/astronaut.png"
