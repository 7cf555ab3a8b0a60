#!/usr/bin/env bash
# Face detection recall, measured on labelled real photos (figures in the README, "Speed").
#
#   benches/faces.sh                 (fetches into the ignored .cache/faces-eval; never commit)
#   DLIB_GIT=/path/to/dlib/.git benches/faces.sh   (take dlib's photos from a local clone)
#
# Sets, each run through examples/face_eval.rs (the library's own find_faces: the same
# decode, analysis copies (both passes) and YuNet detector as `process --crop face`, every face):
# - voc: dlib's examples/faces/*.jpg (PASCAL VOC 2011 photos) with dlib's hand-drawn boxes
#   from training.xml and testing.xml (davisking/dlib, pinned below);
# - group: insightface's t1.jpg (from the PyPI sdist, scripts/fetch-test-faces.sh) with
#   boxes we drew by eye (benches/faces-t1.tsv): not independent labels;
# - small: every voc face with its head around it, pasted into the four face-free phone
#   photos of ../shared/testdata/cameras/phone (3-9 MP) so that its box is 6% of the
#   short side (a full-length or event photo), then also run through
#   `m365-photos process --report` to check the face it frames;
# - none: photos with no face (the four phone photos above and insightface's mask_*.jpg):
#   any detection is a false face, and the count of second passes is what the gate on
#   the first pass's near misses (NEAR_MISS_SCORE in src/process/face.rs) saves.
# A labelled face counts as found when a detected box overlaps it with IoU >= 0.3 (one
# detection per label; dlib's boxes are tight squares on eyes to mouth, YuNet's run from
# forehead to chin, so a right detection overlaps a dlib box by about 0.4-0.6).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache=$root/.cache/faces-eval
dlib_commit=3d40bf5790ca9073c160cebb898800d9f33e12ab
voc="2007_007763 2008_001009 2008_001322 2008_002079 2008_002470 2008_002506 2008_004176 2008_007676 2009_004587"
mkdir -p "$cache/voc"

if [ ! -s "$cache/voc/testing.xml" ]; then
  for f in training.xml testing.xml $(for v in $voc; do echo "$v.jpg"; done); do
    if [ -n "${DLIB_GIT:-}" ]; then
      git --git-dir="$DLIB_GIT" show "$dlib_commit:examples/faces/$f" > "$cache/voc/$f.tmp"
    else
      curl -fsSL "https://raw.githubusercontent.com/davisking/dlib/$dlib_commit/examples/faces/$f" \
        -o "$cache/voc/$f.tmp"
    fi
    mv "$cache/voc/$f.tmp" "$cache/voc/$f"
  done
fi
scripts/fetch-test-faces.sh >/dev/null
cp .cache/faces/t1.jpg "$cache/t1.jpg"
mkdir -p "$cache/none"
cp .cache/faces/mask_*.jpg "$cache/none/"
sed 's/^#.*//;/^$/d' benches/faces-t1.tsv > "$cache/group.tsv"

# dlib's XML boxes -> photo<TAB>x,y,w,h...
python3 - "$cache/voc" > "$cache/voc.tsv" <<'PY'
import sys, xml.etree.ElementTree as ET
d = sys.argv[1]
for xml in ("training.xml", "testing.xml"):
    for img in ET.parse(f"{d}/{xml}").getroot().iter("image"):
        boxes = [f"{b.get('left')},{b.get('top')},{b.get('width')},{b.get('height')}"
                 for b in img.iter("box") if b.get("ignore") != "1"]
        print("\t".join(["voc/" + img.get("file")] + boxes))
PY

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
# M365_PROFILE=dev uses the (warmer) dev build: the same figures, dependencies at opt-level 3.
profile=${M365_PROFILE:-release}
cargo build --quiet --profile "$profile" --example face_eval --bin m365-photos
dir=$CARGO_TARGET_DIR/$([ "$profile" = dev ] && echo debug || echo "$profile")
eval_bin=$dir/examples/face_eval
bin=$dir/m365-photos

bg=${M365_TESTDATA:-$root/../shared/testdata}/cameras/phone
rm -rf "$cache/small" && mkdir -p "$cache/small"
"$eval_bin" paste "$cache/voc.tsv" "$bg" "$cache/small" 0.06 > "$cache/small/labels.tsv"

# No labels: one photo a line.
{ ls "$cache"/none/*.jpg | sed "s|^$cache/||"; ls "$bg"/*.jpg; } > "$cache/none.tsv"

out=$cache/results.txt
{
  "$eval_bin" detect voc "$cache/voc.tsv"
  "$eval_bin" detect group "$cache/group.tsv"
  "$eval_bin" detect small "$cache/small/labels.tsv"
  "$eval_bin" detect none "$cache/none.tsv"
} > "$out"

# End to end: the face `process` frames in each small-face photo, from its report.
echo userPrincipalName > "$cache/small/users.csv"
ls "$cache/small" | sed -n 's/\.jpg$//p' >> "$cache/small/users.csv"
rm -rf "$cache/small-out"
"$bin" process -q --photos "$cache/small" --users "$cache/small/users.csv" \
  --out "$cache/small-out" --report "$cache/small-report.csv" >/dev/null || true
python3 - "$cache/small/labels.tsv" "$cache/small-report.csv" >> "$out" <<'PY'
import csv, sys
labels = {}
for line in open(sys.argv[1]):
    name, box = line.rstrip("\n").split("\t")[:2]
    labels[name.rsplit(".", 1)[0]] = [float(v) for v in box.split(",")]
def iou(a, b):
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)
framed = inside = 0
shares = []
rows = [r for r in csv.DictReader(open(sys.argv[2])) if r["file"].rsplit(".", 1)[0] in labels]
for r in rows:
    lab = labels.get(r["file"].rsplit(".", 1)[0])
    if lab is None or not r["crop"]:
        continue
    if r["face_box"]:
        fb = [float(v) for v in r["face_box"].split(",")]
        if iou(lab, fb) >= 0.3:
            framed += 1
            shares.append(float(r["face_share"]))
    x, y, side = (float(v) for v in r["crop"].split(","))
    if lab[0] >= x and lab[1] >= y and lab[0] + lab[2] <= x + side and lab[1] + lab[3] <= y + side:
        inside += 1
shares.sort()
med = shares[len(shares) // 2] if shares else 0
print(f"SUMMARY\tsmall end to end\tphotos {len(rows)}\tframed the labelled face {framed}"
      f"\tlabelled box whole inside the square {inside}\tmedian face_share {med:.2f}")
PY
grep SUMMARY "$out"
echo "(per photo: $out)"
