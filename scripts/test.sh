#!/usr/bin/env bash
# The test command: sets up a fresh Debian machine, fetches the face photos the crop tests
# use, and runs every test (unit and integration, against the real emulator process).
set -euo pipefail
cd "$(dirname "$0")/.."
# The contact-sheet test renders the page in headless Chromium: install it, and fail
# rather than skip when it is missing.
export M365_WITH_BROWSER=1 M365_REQUIRE_BROWSER=1
scripts/setup.sh
if [ -x scripts/fetch-test-faces.sh ]; then
  scripts/fetch-test-faces.sh || echo "test: could not fetch face photos; the face tests will say they skipped" >&2
fi
cargo test --all-targets "$@"
