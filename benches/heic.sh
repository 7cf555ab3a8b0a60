#!/usr/bin/env bash
# Time per HEIC photo: the largest file in ../shared/testdata/heic processed to a 648x648
# JPEG by the release binary, single-threaded, N copies (default 10), wall-clock per photo.
set -euo pipefail
cd "$(dirname "$0")/.."
td="${M365_TESTDATA:-../shared/testdata}/heic"
n="${1:-10}"
[ -d "$td" ] || { echo "bench: no HEIC test data at $td" >&2; exit 1; }
if [ -n "${M365_BIN:-}" ]; then
  bin=$M365_BIN
else
  cargo build --release --quiet
  bin="${CARGO_TARGET_DIR:-target}/release/m365-photos"
fi
src=$(ls -S "$td"/* | head -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/photos"
echo userPrincipalName > "$work/users.csv"
ext="${src##*.}"
for i in $(seq 1 "$n"); do
  cp "$src" "$work/photos/user$i.$ext"
  echo "user$i" >> "$work/users.csv"
done
size=$("$bin" plan --photos "$work/photos" --users "$work/users.csv" --report "$work/plan.csv" >/dev/null 2>&1; \
  awk -F, 'NR==2{print $9"x"$10}' "$work/plan.csv")
start=$(date +%s.%N)
"$bin" process --jobs 1 --quiet --photos "$work/photos" --users "$work/users.csv" \
  --out "$work/out" --report "$work/report.csv" >/dev/null
end=$(date +%s.%N)
made=$(ls "$work/out" | wc -l)
awk -v s="$start" -v e="$end" -v n="$n" -v m="$made" -v f="$(basename "$src")" -v d="$size" \
  'BEGIN{printf "heic: %s (%s): %d photos, %.0f ms per photo (1 thread)\n", f, d, m, (e-s)*1000/n}'
