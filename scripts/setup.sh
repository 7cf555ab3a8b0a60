#!/usr/bin/env bash
# Installs what a fresh Debian (or Ubuntu) machine lacks to build and test m365-photos:
# cmake + nasm build libjpeg-turbo 3 and libheif from source, libde265 decodes HEIC,
# chromium renders the HTML page in the tests. Rust itself comes from rustup.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/packages.sh"

need=()
have cc || need+=(build-essential)
have cmake || need+=(cmake)
have nasm || need+=(nasm)
have pkg-config || need+=(pkg-config)
pkg-config --exists libde265 2>/dev/null || need+=(libde265-dev)
if [ "${M365_WITH_BROWSER:-0}" = 1 ]; then
  have chromium || need+=(chromium)
fi
if [ "${M365_WITH_BENCH_TOOLS:-0}" = 1 ]; then
  have vipsthumbnail || need+=(libvips-tools)
  have djpeg || need+=(libjpeg-turbo-progs)
  [ -x /usr/bin/time ] || need+=(time)
  have bc || need+=(bc)
  have python3 || need+=(python3)
fi

install_packages setup "${need[@]}"

if ! have cargo; then
  echo "setup: cargo not found: install Rust 1.88 or newer with rustup (https://rustup.rs)" >&2
  exit 1
fi

# Cross builds (Windows x64, static Linux): mingw-w64, wine, musl-tools, the rustup targets
# and a static libde265 for Windows (scripts/cross-setup.sh).
if [ "${M365_WITH_CROSS:-0}" = 1 ]; then
  "$(dirname "$0")/cross-setup.sh"
fi
