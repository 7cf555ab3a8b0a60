#!/usr/bin/env bash
# Upload throughput against the emulator limited like a busy tenant:
# R = 50 Graph requests/s (429 + Retry-After 2 s beyond it), 100 ms server time per
# photo write, 2,000 users. Measured from the emulator's own record of photo writes.
#
#   benches/upload.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# M365_BIN=path runs an already-built binary (e.g. the dev build on a busy machine).
if [ -n "${M365_BIN:-}" ]; then
  bin=$M365_BIN
else
  scripts/setup.sh
  cargo build --release --quiet
  bin=${CARGO_TARGET_DIR:-$PWD/target}/release/m365-photos
fi
work=$(mktemp -d)
emu_pid=""
cleanup() { [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

n=2000
mkdir -p "$work/photos"
echo "employeeId,userPrincipalName" > "$work/staff.csv"
for i in $(seq 1 $n); do
  cp samples/photos/10437.jpg "$work/photos/$((100000 + i)).jpg"
  printf '%d,user%05d@contoso.test\n' $((100000 + i)) "$i" >> "$work/staff.csv"
done

run() { # label, extra upload args...
  local label=$1; shift
  "$bin" emulator --generate-users $n --rate 50 --retry-after 2 --write-latency-ms 100 > "$work/emu.log" &
  emu_pid=$!
  for _ in $(seq 1 50); do grep -q "listening on" "$work/emu.log" 2>/dev/null && break; sleep 0.1; done
  local url
  url=$(awk '/listening on/ {print $4; exit}' "$work/emu.log")
  AZURE_CLIENT_SECRET=emulator-secret "$bin" upload -q --tenant bench --client-id bench \
    --graph-url "$url" --login-url "$url" --match-column employeeId \
    --photos "$work/photos" --users "$work/staff.csv" --report "$work/$label.csv" "$@" >/dev/null || true
  python3 -c "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())" "$url/_emulator/stats" > "$work/$label.json"
  kill "$emu_pid"; wait "$emu_pid" 2>/dev/null || true; emu_pid=""
  python3 - "$label" "$work/$label.json" <<'PY'
import json, sys
label, path = sys.argv[1], sys.argv[2]
s = json.load(open(path))
rate = s["writes_per_sec"]
share = 100.0 * s["throttled"] / max(1, s["requests"])
print(f"| {label} | {s['photo_writes']} | {rate:.1f} ({100 * rate / 50:.0f}% of R) | {share:.2f}% | {s['violations']} |")
PY
}

echo "## Upload: 2,000 users, emulator at R = 50 requests/s, Retry-After 2 s, 100 ms per write"
echo "| run | photos written | sustained writes/s | 429 share | requests inside Retry-After |"
echo "|---|---|---|---|---|"
# The targets are about photo writes: --no-backup. With the default backup each user
# costs a GET before the PUT, so photo writes run at about half the request rate.
run "told --rate 50" --rate 50 --no-backup
run "not told (probing)" --no-backup
run "told --rate 50, with backup" --rate 50
