#!/bin/sh
# Fetches real face photos for the crop tests into .cache/faces/ (gitignored; never
# commit them), only from what a package registry ships:
# - the scikit-image wheel on PyPI: skimage/data/astronaut.png (Eileen Collins, NASA,
#   public domain);
# - the insightface sdist on PyPI, insightface/data/images/: t1.jpg (a group photo),
#   Tom_Hanks_54745.png (one face) and mask_*.jpg (masks: photos with no face).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.cache/faces"
# What the tests open (src/process/crop.rs, checks.rs, tests/integration/face_pipeline.rs).
if [ -s "$dest/astronaut.png" ] && [ -s "$dest/t1.jpg" ] && [ -s "$dest/Tom_Hanks_54745.png" ] \
    && [ -s "$dest/mask_white.jpg" ] && [ -s "$dest/mask_blue.jpg" ]; then
    echo "faces already in $dest"
    exit 0
fi
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if command -v pip3 >/dev/null 2>&1; then pip=pip3; else pip="python3 -m pip"; fi
# Any platform's wheel holds the same data files; --only-binary avoids a source build.
$pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" scikit-image
# insightface ships only an sdist, which `pip download` would try to build: take the
# file that PyPI's simple index lists for that one release, and check its hash.
python3 - "$tmp" <<'PY'
import hashlib, re, sys, urllib.request
page = urllib.request.urlopen("https://pypi.org/simple/insightface/").read().decode()
url, digest = re.search(r'href="([^"]*/insightface-0\.7\.3\.tar\.gz)#sha256=([0-9a-f]+)"', page).groups()
data = urllib.request.urlopen(url).read()
if hashlib.sha256(data).hexdigest() != digest:
    sys.exit("insightface sdist: sha256 mismatch")
with open(sys.argv[1] + "/insightface-0.7.3.tar.gz", "wb") as f:
    f.write(data)
PY
python3 - "$tmp" "$dest" <<'PY'
import glob, os, sys, tarfile, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = sorted(glob.glob(tmp + "/scikit_image-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    with open(dest + "/astronaut.png", "wb") as f:
        f.write(z.read("skimage/data/astronaut.png"))
sdist = sorted(glob.glob(tmp + "/insightface-*.tar.gz"))[0]
wanted = ("t1.jpg", "Tom_Hanks_54745.png")
with tarfile.open(sdist) as t:
    for m in t.getmembers():
        name = os.path.basename(m.name)
        if "/data/images/" in m.name and m.isfile() and (name in wanted or name.startswith("mask_")):
            with open(os.path.join(dest, name), "wb") as f:
                f.write(t.extractfile(m).read())
PY
ls "$dest"
