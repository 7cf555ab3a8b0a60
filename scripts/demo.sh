#!/usr/bin/env bash
# The run-it command: sets up a fresh Debian machine, builds m365-photos and runs the demo
# (the samples uploaded to the built-in Graph emulator, with throttling and faults on).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo run --quiet -- demo "$@"
