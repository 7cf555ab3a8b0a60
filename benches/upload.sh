#!/usr/bin/env bash
# Upload throughput against the emulator limited like a tenant, over issue 13's latency
# matrix: 5,000 users, photo writes only (--no-backup), neither --rate nor --concurrency
# unless the case says so. Measured from the emulator's own record of photo writes.
#
#   benches/upload.sh            # every case
#   benches/upload.sh 1000 cap   # only cases whose label contains one of the words
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

# 5,000: the ramp-up, the first Retry-After window and a stalled last request are a fixed
# few seconds, which at 2,000 users of 100 ms writes is up to a tenth of the run.
n=${M365_BENCH_USERS:-5000}
mkdir -p "$work/photos"
echo "employeeId,userPrincipalName" > "$work/staff.csv"
for i in $(seq 1 "$n"); do
  cp samples/photos/10437.jpg "$work/photos/$((100000 + i)).jpg"
  printf '%d,user%05d@contoso.test\n' $((100000 + i)) "$i" >> "$work/staff.csv"
done

emu_help=$("$bin" emulator --help)
supports() { grep -q -- "$1" <<<"$emu_help"; }

# label | allowed photo writes/s | target share | emulator args | upload args
run() {
  local label=$1 allowed=$2 target=$3 emu_args=$4 up_args=$5
  "$bin" emulator --generate-users "$n" --retry-after 2 $emu_args > "$work/emu.log" &
  emu_pid=$!
  # A busy machine (a build beside the bench) can take seconds to start 5,000 users.
  for _ in $(seq 1 300); do grep -q "listening on" "$work/emu.log" 2>/dev/null && break; sleep 0.1; done
  local url
  url=$(awk '/listening on/ {print $4; exit}' "$work/emu.log")
  if [ -z "$url" ]; then
    echo "| $label | the emulator did not start within 30 s: $(tail -1 "$work/emu.log") |||||||"
    kill "$emu_pid" 2>/dev/null; wait "$emu_pid" 2>/dev/null || true; emu_pid=""
    return
  fi
  local start end
  start=$(date +%s.%N)
  AZURE_CLIENT_SECRET=emulator-secret "$bin" upload -q --tenant bench --client-id bench \
    --graph-url "$url" --login-url "$url" --match-column employeeId \
    --photos "$work/photos" --users "$work/staff.csv" --report "$work/report.csv" \
    --no-backup $up_args >/dev/null || true
  end=$(date +%s.%N)
  python3 -c "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())" "$url/_emulator/stats" > "$work/stats.json"
  kill "$emu_pid"; wait "$emu_pid" 2>/dev/null || true; emu_pid=""
  python3 - "$label" "$allowed" "$target" "$start" "$end" "$work/stats.json" <<'PY'
import json, sys
label, allowed, target, start, end, path = sys.argv[1:]
allowed, target = float(allowed), float(target)
s = json.load(open(path))
rate = s["writes_per_sec"]
share = 100.0 * s["throttled"] / max(1, s["requests"])
ok = rate >= target * allowed and share <= 3.0 and s["violations"] == 0
print(f"| {label} | {s['photo_writes']} | {rate:.1f} ({100 * rate / allowed:.0f}% of {allowed:g}; target {100 * target:.0f}%) "
      f"| {share:.2f}% | {s['violations']} | {s.get('max_in_flight', '?')} | {float(end) - float(start):.0f} s | {'yes' if ok else 'NO'} |")
PY
}

filter=("$@")
# A case runs when no words were given or its label contains one of them.
selected() {
  [ "${#filter[@]}" -eq 0 ] && return 0
  local w
  for w in "${filter[@]}"; do [[ $1 == *"$w"* ]] && return 0; done
  return 1
}
case_() { selected "$1" && run "$@" || true; }

echo "## Upload: $n users, emulator with Retry-After 2 s, photo writes only (--no-backup)"
echo "| case | photos written | sustained writes/s | 429 share | requests inside Retry-After | most in flight (server) | wall | target met |"
echo "|---|---|---|---|---|---|---|---|"
case_ "1000 ms per write, R = 50" 50 0.90 "--rate 50 --write-latency-ms 1000" ""
case_ "300 ms per write, R = 20" 20 0.90 "--rate 20 --write-latency-ms 300" ""
case_ "1500 ms per write, cap 24 in flight" 16 0.90 "--max-concurrent 24 --write-latency-ms 1500" ""
if supports --stall-rate; then
  # The emulator's 503/504s cost a request of R too: 47.5 photo writes/s is all it allows.
  case_ "100 ms per write, R = 50, 5% 503/504, 1% 5 s stalls" 47.5 0.90 \
    "--rate 50 --write-latency-ms 100 --fail-rate 0.05 --stall-rate 0.01 --stall-ms 5000" ""
else
  echo "| 100 ms per write, R = 50, 5% 503/504, 1% 5 s stalls | skipped: this emulator has no --stall-rate |||||||"
fi
case_ "told --rate 50, 1000 ms per write" 50 0.95 "--rate 50 --write-latency-ms 1000" "--rate 50"
