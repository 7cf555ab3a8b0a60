#!/usr/bin/env bash
# Builds the release archive for TARGET (default: this machine's), into target/dist/:
#   m365-photos-VERSION-TARGET.tar.gz (.zip for Windows) with the binary, README.md, the
#   licences of the embedded model and the C libraries built in, the man page and the
#   bash/zsh/fish/PowerShell completions.
# Usage: scripts/dist.sh [TARGET] [cargo build flags, e.g. --no-default-features]
# Cross targets build in target/cross-TARGET (settings in .cargo/config.toml); the build
# runs under `nice -n 19` (it takes a long time on 2 cores and shares them).
set -euo pipefail
cd "$(dirname "$0")/.."
native=$(rustc -vV | sed -n 's/^host: //p')
target=$native
if [ "$#" -gt 0 ] && [[ "$1" != -* ]]; then target=$1; shift; fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)

build=(cargo build --release --locked "$@")
if [ "$target" = "$native" ]; then
  bindir=target/release
else
  build+=(--target "$target" --target-dir "target/cross-$target")
  bindir=target/cross-$target/$target/release
fi
start=$(date +%s)
nice -n 19 "${build[@]}"
echo "dist: built $target in $(( $(date +%s) - start )) s" >&2

exe=m365-photos
case "$target" in *windows*) exe=m365-photos.exe ;; esac
name=m365-photos-$version-$target
[ "$#" -gt 0 ] && case " $* " in *" --no-default-features "*) name=$name-noheic ;; esac
stage=target/dist/$name
rm -rf "$stage"
mkdir -p "$stage/complete" "$stage/doc" "$stage/licenses"
cp "$bindir/$exe" "$stage/"
cp README.md "$stage/"

# The man page and completions come from the clap definitions; any build of this
# version that runs here prints the same text, so a cross build borrows the native one.
gen=$bindir/$exe
if [ "$target" != "$native" ]; then
  gen=target/release/m365-photos
  [ -x "$gen" ] || gen=target/debug/m365-photos
  [ -x "$gen" ] || { cargo build --quiet; gen=target/debug/m365-photos; }
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
    if p["name"] in ("turbojpeg-sys", "libheif-sys", "libsqlite3-sys"):
        print(p["name"], os.path.dirname(p["manifest_path"]))
')
while read -r crate dir; do
  case "$crate" in
    turbojpeg-sys) cp "$dir/libjpeg-turbo/LICENSE.md" "$stage/licenses/libjpeg-turbo-LICENSE.md"
                   cp "$dir/libjpeg-turbo/README.ijg" "$stage/licenses/libjpeg-turbo-README.ijg" ;;
    libheif-sys) [ -f "$dir/vendor/libheif/COPYING" ] && cp "$dir/vendor/libheif/COPYING" "$stage/licenses/libheif-LGPL-3.0.txt" ;;
    libsqlite3-sys) echo "SQLite (bundled by libsqlite3-sys) is in the public domain: https://sqlite.org/copyright.html" >"$stage/licenses/sqlite.txt" ;;
  esac
done <<<"$registry"
# libde265 (HEIC's HEVC decoder) is Debian's, linked dynamically: say so beside the binary.
if [ -f /usr/share/doc/libde265-0/copyright ] && [[ " $* " != *" --no-default-features "* ]]; then
  cp /usr/share/doc/libde265-0/copyright "$stage/licenses/libde265-copyright.txt"
fi

cd target/dist
case "$target" in
  *windows*) rm -f "$name.zip"; zip -qr "$name.zip" "$name"; archive=$name.zip ;;
  *) tar czf "$name.tar.gz" "$name"; archive=$name.tar.gz ;;
esac
bytes=$(wc -c <"$name/$exe")
echo "dist: target/dist/$archive (binary $exe: $((bytes / 1024 / 1024)) MB, $bytes bytes)"
