#!/usr/bin/env bash
# CI's Windows check (issue 16), called by .ci/run after the tests: installs mingw-w64 and
# wine and the rustup target (scripts/cross-setup.sh, without libde265 and musl), builds
# the .exe without HEIC in the cheap `ci-windows` profile (Cargo.toml), and runs
# scripts/smoke-windows.sh under wine against the Linux debug build the tests made.
# M365_SKIP_WINDOWS=1 skips all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${M365_SKIP_WINDOWS:-0}" = 1 ]; then
  echo "ci-windows: skipped (M365_SKIP_WINDOWS=1)"
  exit 0
fi
# CI's limit is 90 minutes and a red CI lands nothing: the .exe's build from nothing takes
# about 15 minutes on 2 free cores (plus mingw-w64 and wine to install), so when the steps
# before have used more than 55 minutes this step says so and steps aside rather than
# turning a passing run red.
budget=${M365_WINDOWS_AFTER_S:-3300}
if [ -n "${M365_CI_STARTED:-}" ]; then
  used=$(($(date +%s) - M365_CI_STARTED))
  if [ "$used" -gt "$budget" ]; then
    echo "ci-windows: NOT RUN: CI has used ${used} s, more than ${budget} s, before the Windows build (about 900 s from nothing); run scripts/ci-windows.sh by hand"
    exit 0
  fi
  echo "ci-windows: starting after ${used} s of CI"
fi
tdir=${CARGO_TARGET_DIR:-target}
t0=$(date +%s)
M365_CROSS_HEIC=0 M365_CROSS_MUSL=0 scripts/cross-setup.sh
t1=$(date +%s)
cargo build --locked --profile ci-windows --target x86_64-pc-windows-gnu --no-default-features
t2=$(date +%s)
lin=$tdir/debug/m365-photos
[ -x "$lin" ] || cargo build --locked
scripts/smoke-windows.sh "$tdir/x86_64-pc-windows-gnu/ci-windows/m365-photos.exe" "$lin"
t3=$(date +%s)
echo "ci-windows: setup $((t1 - t0)) s, build $((t2 - t1)) s, smoke tests $((t3 - t2)) s"
