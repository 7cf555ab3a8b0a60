#!/usr/bin/env bash
# Smoke tests of the Windows build under wine (issue 16), against the Linux build:
#   - the .exe imports only Windows' own DLLs (no MinGW runtime to ship beside it);
#   - `--help` and `--version` print the same bytes;
#   - `plan` and `process` on samples/ write byte-identical reports and photos (what they
#     print differs only in path separators: Windows prints `out\report.csv`);
#   - `demo` runs end to end against its in-process Graph emulator on loopback.
# Usage: scripts/smoke-windows.sh [WINDOWS_EXE [LINUX_BINARY]]
#   defaults: the release builds in ${CARGO_TARGET_DIR:-target}, else the debug ones.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
tdir=${CARGO_TARGET_DIR:-$repo/target}
pick() { for f in "$@"; do [ -f "$f" ] && { echo "$f"; return; }; done; echo "$1"; }
exe=${1:-$(pick "$tdir/x86_64-pc-windows-gnu/release/m365-photos.exe" "$tdir/x86_64-pc-windows-gnu/debug/m365-photos.exe")}
lin=${2:-$(pick "$tdir/release/m365-photos" "$tdir/debug/m365-photos")}
for f in "$exe" "$lin"; do [ -f "$f" ] || { echo "smoke-windows: $f is missing (build it first)" >&2; exit 2; }; done
exe=$(realpath "$exe"); lin=$(realpath "$lin")
command -v wine >/dev/null || { echo "smoke-windows: wine is missing (scripts/cross-setup.sh)" >&2; exit 2; }

export WINEPREFIX=${WINEPREFIX:-$tdir/wine-prefix} WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
mkdir -p "$WINEPREFIX"
# Debian 12's wine 8.0 lacks bcryptprimitives.dll (ProcessPrng), which Rust's standard
# library imports on Windows: give the prefix a stand-in (scripts/wine/, never shipped).
wineboot -i >/dev/null 2>&1 || true
shim=$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll
if [ ! -f "$shim" ] && [ ! -f /usr/lib/x86_64-linux-gnu/wine/x86_64-windows/bcryptprimitives.dll ]; then
  x86_64-w64-mingw32-gcc-posix -shared -O2 -o "$shim" scripts/wine/bcryptprimitives.c scripts/wine/bcryptprimitives.def -lbcrypt
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/m365-smoke-win.XXXXXX")
# Keep wine's desktop up for the whole run, started by a process whose standard handles
# are /dev/null. tract (the face detector) runs `wmic` once per process for the CPU's
# cache sizes and reads its output to the end. Under wine, the first process to need the
# desktop starts `explorer.exe /desktop`, which keeps that process's standard handles and
# lives while any process uses the desktop: when that was our wmic, explorer held our
# pipe open while our .exe waited for it, and `process` hung at 0 CPU (whenever no
# desktop was up, as in CI's fresh prefix). A `cmd` reading a FIFO keeps the desktop in
# use; only `sleep` holds the FIFO's writing end, so no wine process can keep it open.
mkfifo "$work/hold"
sleep 86400 >"$work/hold" &
hold_writer=$!
wine cmd <"$work/hold" >/dev/null 2>&1 &
hold_reader=$!
trap 'kill "$hold_writer" "$hold_reader" 2>/dev/null || true; rm -rf "$work"' EXIT
wine wmic os get caption </dev/null >/dev/null 2>&1 || true
fail=0
ok() { echo "smoke-windows: ok   $*"; }
bad() { echo "smoke-windows: FAIL $*"; fail=1; }
win() { wine "$exe" "$@"; }

# 1. Only Windows' own DLLs.
dlls=$(x86_64-w64-mingw32-objdump -p "$exe" | sed -n 's/^\s*DLL Name: //p' | sort -u | tr '\n' ' ')
if grep -qiE 'lib(stdc\+\+|gcc|winpthread)|\bde265|heif' <<<"$dlls"; then bad "imports a MinGW/C library DLL: $dlls"; else ok "imports only: $dlls"; fi

# 2. Help and version: the same bytes, except that clap names the program as it was
# started (`Usage: m365-photos.exe ...` on Windows).
exe_name() { sed 's/m365-photos\.exe/m365-photos/g'; }
for args in "--help" "--version" "upload --help"; do
  # shellcheck disable=SC2086
  if cmp -s <("$lin" $args) <(win $args | exe_name); then ok "'$args' identical (up to m365-photos.exe in Usage)"
  else bad "'$args' differs"; diff <("$lin" $args) <(win $args | exe_name) | head -20 || true; fi
done

# 3. plan and process on the samples, each from its own copy, with relative paths.
for side in linux windows; do
  mkdir -p "$work/$side"
  cp -r samples "$work/$side/samples"
done
run() { # side, then the arguments
  local side=$1; shift
  if [ "$side" = linux ]; then (cd "$work/$side" && "$lin" "$@"); else (cd "$work/$side" && win "$@"); fi
}
for side in linux windows; do
  run "$side" --quiet plan --photos samples/photos --users samples/users.csv --match-column employeeId \
    --report out/plan.csv --html out/plan.html >"$work/$side.plan.out" 2>&1 || echo "exit $?" >>"$work/$side.plan.out"
  run "$side" --quiet process --photos samples/photos --users samples/users.csv --match-column employeeId \
    --out out/photos --report out/process.json --html out/process.html >"$work/$side.process.out" 2>&1 || echo "exit $?" >>"$work/$side.process.out"
done
# Photos must be byte-identical. Reports differ in two explained places only: the time of
# the run in the contact sheet, and the photos folder as the user gave it, which Windows
# prints as samples\photos (in a "no photo named ..." detail); both are normalised here.
norm() { sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/TIME/g; s#samples(\\\\|\\|&\#x2f;)photos#samples/photos#g' "$1"; }
photos=0 reports=0
while IFS= read -r f; do
  rel=${f#"$work/linux/out/"}
  other=$work/windows/out/$rel
  case "$rel" in
    *.csv|*.json|*.html)
      if cmp -s <(norm "$f") <(norm "$other"); then reports=$((reports + 1))
      else bad "$rel differs:"; diff <(norm "$f") <(norm "$other") | head -10 || true; fi ;;
    *) if cmp -s "$f" "$other"; then photos=$((photos + 1)); else bad "$rel differs (bytes)"; fi ;;
  esac
done < <(find "$work/linux/out" -type f | sort)
extra=$(cd "$work/windows/out" && find . -type f | wc -l)
[ "$extra" = $((photos + reports)) ] || bad "Windows wrote $extra files, Linux $((photos + reports))"
ok "plan and process: $photos photos byte-identical, $reports reports identical but for the run time and samples\\photos"
for cmd in plan process; do
  if cmp -s "$work/linux.$cmd.out" <(tr '\\' / <"$work/windows.$cmd.out"); then
    ok "$cmd prints the same (up to path separators)"
  else
    bad "$cmd prints differently:"; diff "$work/linux.$cmd.out" <(tr '\\' / <"$work/windows.$cmd.out") | head -20 || true
  fi
done

# HEIC (a build with it, and the camera files of ../shared/testdata/heic when present):
# libde265 and libheif give the same JPEGs on both.
heic_dir=$repo/../shared/testdata/heic
if grep -qa libde265 "$exe" && compgen -G "$heic_dir/*.[hH][eE][iI][cCfF]" >/dev/null; then
  for side in linux windows; do
    mkdir -p "$work/$side/heic"
    cp "$heic_dir"/*.[hH][eE][iI][cCfF] "$work/$side/heic/"
    (cd "$work/$side/heic" && ls | sed 's/\.[^.]*$//' | sed '1i userPrincipalName' >../heic-users.csv)
    run "$side" --quiet process --photos heic --users heic-users.csv --out heic-out --report heic.csv >/dev/null 2>&1 || true
  done
  n=$(find "$work/linux/heic-out" -name '*.jpg' | wc -l)
  if [ "$n" -gt 0 ] && diff -r "$work/linux/heic-out" "$work/windows/heic-out" >/dev/null; then
    ok "HEIC: $n photos decoded, byte-identical to Linux"
  else
    bad "HEIC: $n Linux photos; Windows differs"
  fi
fi

# 4. demo: the samples uploaded to the in-process emulator (throttling and faults on).
start=$(date +%s)
if (cd "$work/windows" && win demo --samples samples --out demo) >"$work/demo.out" 2>&1; then
  uploaded=$(grep -c ',uploaded,\|;uploaded;' "$work/windows/demo/report.csv" || true)
  if [ "$uploaded" = 6 ] && [ "$(find "$work/windows/demo/uploaded" -type f | wc -l)" = 6 ]; then
    ok "demo: 6 photos uploaded to the emulator in $(( $(date +%s) - start )) s"
  else
    bad "demo: $uploaded rows uploaded, not 6"; cat "$work/demo.out"
  fi
  grep -q 'demo\\report.csv' "$work/demo.out" && ok "demo prints Windows paths (demo\\report.csv)" || bad "demo paths: $(grep report: "$work/demo.out")"
else
  bad "demo failed:"; cat "$work/demo.out"
fi

[ "$fail" = 0 ] && echo "smoke-windows: all passed" || echo "smoke-windows: FAILED" >&2
exit "$fail"
