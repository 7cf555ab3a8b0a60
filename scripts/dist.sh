#!/usr/bin/env bash
# Builds the release archive for TARGET (default: this machine's), into target/dist/:
#   m365-photos-VERSION-TARGET.tar.gz (.zip for Windows) with the binary, README.md, the
#   licences of the embedded model and the C libraries built in, the man page and the
#   bash/zsh/fish/PowerShell completions.
# Usage: scripts/dist.sh [TARGET] [cargo build flags, e.g. --no-default-features]
#   TARGET: x86_64-unknown-linux-gnu (default here), x86_64-pc-windows-gnu (HEIC needs the
#   static libde265 of scripts/cross-setup.sh), x86_64-unknown-linux-musl (static; no HEIC:
#   pass --no-default-features), or a macOS target on a Mac.
# Cross settings are in .cargo/config.toml; everything builds in ${CARGO_TARGET_DIR:-target},
# under `nice -n 19` (M365_NICE=N for another; it takes a long time on 2 cores and shares them).
set -euo pipefail
cd "$(dirname "$0")/.."
native=$(rustc -vV | sed -n 's/^host: //p')
target=$native
if [ "$#" -gt 0 ] && [[ "$1" != -* ]]; then target=$1; shift; fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)

tdir=${CARGO_TARGET_DIR:-target}
heic=1
[[ " $* " == *" --no-default-features "* ]] && heic=0
case "$target" in
  *-linux-musl) [ "$heic" = 1 ] && { echo "dist: $target has no HEIC (no C++ for musl here): add --no-default-features" >&2; exit 2; } ;;
  x86_64-pc-windows-gnu) [ "$heic" = 0 ] || [ -f target/cross-deps/$target/lib/libde265.a ] || scripts/cross-setup.sh ;;
esac
build=(cargo build --release --locked "$@")
if [ "$target" = "$native" ]; then
  bindir=$tdir/release
else
  build+=(--target "$target")
  bindir=$tdir/$target/release
fi
start=$(date +%s)
nice -n "${M365_NICE:-19}" "${build[@]}"
echo "dist: built $target in $(( $(date +%s) - start )) s" >&2

exe=m365-photos
case "$target" in *windows*) exe=m365-photos.exe ;; esac
name=m365-photos-$version-$target
[ "$heic" = 0 ] && name=$name-noheic
stage=target/dist/$name
rm -rf "$stage"
mkdir -p "$stage/complete" "$stage/doc" "$stage/licenses"
cp "$bindir/$exe" "$stage/"
cp README.md "$stage/"

# The man page and completions come from the clap definitions; any build of this
# version that runs here prints the same text, so a cross build borrows the native one.
gen=$bindir/$exe
if [ "$target" != "$native" ]; then
  # The host's debug build, brought up to date by cargo (a release binary lying in the
  # target dir may be from an older tree, with other flags).
  nice -n "${M365_NICE:-19}" cargo build --quiet --locked
  gen=$tdir/debug/m365-photos
fi
"$gen" generate man >"$stage/doc/m365-photos.1"
"$gen" generate complete-bash >"$stage/complete/m365-photos.bash"
"$gen" generate complete-zsh >"$stage/complete/_m365-photos"
"$gen" generate complete-fish >"$stage/complete/m365-photos.fish"
"$gen" generate complete-powershell >"$stage/complete/_m365-photos.ps1"

# Licences: the face model embedded with include_bytes!, and the C libraries compiled
# into the binary (from the crates that vendor them, at the versions Cargo.lock pins).
cp models/LICENSE-yunet "$stage/licenses/yunet-model-LICENSE.txt"
cp models/README.md "$stage/licenses/yunet-model-README.md"
registry=$(cargo metadata --format-version 1 --locked 2>/dev/null | python3 -c '
import json, os, sys
m = json.load(sys.stdin)
for p in m["packages"]:
    if p["name"] in ("turbojpeg-sys", "libheif-sys", "libsqlite3-sys", "aws-lc-sys"):
        print(p["name"], os.path.dirname(p["manifest_path"]))
')
while read -r crate dir; do
  case "$crate" in
    turbojpeg-sys) cp "$dir/libjpeg-turbo/LICENSE.md" "$stage/licenses/libjpeg-turbo-LICENSE.md"
                   cp "$dir/libjpeg-turbo/README.ijg" "$stage/licenses/libjpeg-turbo-README.ijg" ;;
    libheif-sys) [ "$heic" = 1 ] && [ -f "$dir/vendor/libheif/COPYING" ] && cp "$dir/vendor/libheif/COPYING" "$stage/licenses/libheif-LGPL-3.0.txt" ;;
    libsqlite3-sys) echo "SQLite (bundled by libsqlite3-sys) is in the public domain: https://sqlite.org/copyright.html" >"$stage/licenses/sqlite.txt" ;;
    aws-lc-sys) cp "$dir/aws-lc/LICENSE" "$stage/licenses/aws-lc-LICENSE.txt" ;;
  esac
done <<<"$registry"
# libde265 (HEIC's HEVC decoder): Debian's, linked dynamically, on Linux; on Windows the
# static one scripts/cross-setup.sh built (LGPL-3.0, like libheif).
if [ "$heic" = 1 ]; then
  case "$target" in
    *windows*) cp "target/cross-deps/$target/COPYING" "$stage/licenses/libde265-LGPL-3.0.txt" ;;
    *linux-gnu) [ -f /usr/share/doc/libde265-0/copyright ] && cp /usr/share/doc/libde265-0/copyright "$stage/licenses/libde265-copyright.txt" ;;
  esac
fi

cd target/dist
case "$target" in
  *windows*) rm -f "$name.zip"; zip -qr "$name.zip" "$name"; archive=$name.zip ;;
  *) tar czf "$name.tar.gz" "$name"; archive=$name.tar.gz ;;
esac
bytes=$(wc -c <"$name/$exe")
abytes=$(wc -c <"$archive")
echo "dist: target/dist/$archive ($abytes bytes; binary $exe: $((bytes / 1024 / 1024)) MB, $bytes bytes)"
