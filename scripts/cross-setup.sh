#!/usr/bin/env bash
# Installs what cross builds need on a Debian (or Ubuntu) machine, on top of setup.sh:
#   Windows x64 (x86_64-pc-windows-gnu): mingw-w64 (the -posix compilers), wine to run the
#     smoke tests, zip for the archive, and a static libde265 (HEIC) cross-built with cmake
#     into target/cross-deps/x86_64-pc-windows-gnu (where .cargo/config.toml and
#     cmake/x86_64-w64-mingw32.cmake look for it);
#   static Linux (x86_64-unknown-linux-musl): musl-tools (musl-gcc; C only, so no HEIC);
#   and the two rustup targets.
# Usage: scripts/cross-setup.sh            (or M365_WITH_CROSS=1 scripts/setup.sh)
#   LIBDE265_SRC=DIR   a libde265 source tree to use instead of downloading v$de265_version
#   M365_CROSS_HEIC=0  skip libde265 (for no-HEIC Windows builds only)
#   M365_CROSS_MUSL=0  skip musl-tools and the musl target (Windows only, as CI does)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/packages.sh"
cd "$(dirname "$0")/.."
de265_version=1.1.1

need=()
have x86_64-w64-mingw32-gcc-posix || need+=(mingw-w64)
have wine || need+=(wine wine64)
musl=${M365_CROSS_MUSL:-1}
[ "$musl" = 0 ] || have musl-gcc || need+=(musl-tools)
have zip || need+=(zip)
have cmake || need+=(cmake)
have nasm || need+=(nasm)
have pkg-config || need+=(pkg-config)
have curl || need+=(curl ca-certificates)
install_packages cross-setup "${need[@]}"

installed=$(rustup target list --installed)
targets=(x86_64-pc-windows-gnu)
[ "$musl" = 0 ] || targets+=(x86_64-unknown-linux-musl)
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done

[ "${M365_CROSS_HEIC:-1}" = 1 ] || exit 0
prefix=${M365_CROSS_PREFIX:-$PWD/target/cross-deps/x86_64-pc-windows-gnu}
# libheif and libde265 are C++: rustc links `-lstdc++` (and winpthread) as dylibs
# (`-Bdynamic`, which beats `-static`), so the .exe would need libstdc++-6.dll and
# libwinpthread-1.dll beside it. Their static archives alone in the prefix's lib folder,
# which is searched first (libde265.pc's -L), make the linker take those instead.
static_runtime() {
  for a in libstdc++.a libwinpthread.a libpthread.a; do
    cp "$(x86_64-w64-mingw32-g++-posix -print-file-name=$a)" "$prefix/lib/$a"
  done
}
if [ -f "$prefix/lib/libde265.a" ] && [ -f "$prefix/lib/pkgconfig/libde265.pc" ] && [ -f "$prefix/COPYING" ]; then
  [ -f "$prefix/lib/libstdc++.a" ] || static_runtime
  exit 0
fi
work=$PWD/target/cross-deps/build
mkdir -p "$work"
src=${LIBDE265_SRC:-}
if [ -z "$src" ]; then
  src=$work/libde265-$de265_version
  if [ ! -f "$src/CMakeLists.txt" ]; then
    curl -fsSL "https://github.com/strukturag/libde265/releases/download/v$de265_version/libde265-$de265_version.tar.gz" \
      | tar xz -C "$work"
  fi
fi
echo "cross-setup: building a static libde265 for Windows from $src into $prefix" >&2
rm -rf "$work/libde265-win64"
nice -n 19 cmake -S "$src" -B "$work/libde265-win64" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/x86_64-w64-mingw32.cmake" -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DBUILD_SHARED_LIBS=OFF -DENABLE_SDL=OFF -DENABLE_DECODER=OFF -DENABLE_ENCODER=OFF >/dev/null
nice -n 19 cmake --build "$work/libde265-win64" -j "$(nproc)" >/dev/null
cmake --install "$work/libde265-win64" >/dev/null
cp "$src/COPYING" "$prefix/COPYING"
static_runtime
# The static library's users must see its declarations without dllimport.
sed -i 's/^Cflags: \(.*\)$/Cflags: \1 -DLIBDE265_STATIC_BUILD/' "$prefix/lib/pkgconfig/libde265.pc"
echo "cross-setup: libde265 $de265_version for Windows in $prefix" >&2
