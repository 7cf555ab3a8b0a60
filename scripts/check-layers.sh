#!/usr/bin/env bash
# Keeps the layering of src/ (README "Code map"): clap and the AZURE_*/M365_* environment
# only under src/cli/; nothing below the commands imports cli or commands; the pipeline
# and tenant layers do not import each other upwards; no function over 120 lines.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
bad() { echo "layering: $*" >&2; fail=1; }

# clap only in the CLI.
if hits=$(grep -rln --include='*.rs' -E '\bclap::|use clap\b|derive\(.*(Parser|Args|Subcommand|ValueEnum)' src | grep -v '^src/cli/'); then
  for f in $hits; do bad "$f uses clap (only src/cli/ may)"; done
fi
# Environment variables are read in the CLI only (the emulator's own process reads its
# secret in cli/ too).
if hits=$(grep -rn --include='*.rs' -E 'env::var(_os)?\("(AZURE|M365)_' src | grep -v '^src/cli/' | grep -v 'M365_TESTDATA'); then
  while IFS= read -r h; do bad "$h: reads the environment (only src/cli/ may)"; done <<<"$hits"
fi
# Nothing below the commands reaches up.
for dir in pipeline tenant state report graph output process util emulator config.rs; do
  [ -e "src/$dir" ] || continue
  if hits=$(grep -rn --include='*.rs' -E 'crate::(cli|commands)\b' "src/$dir"); then
    while IFS= read -r h; do bad "$h: imports cli/commands from below them"; done <<<"$hits"
  fi
done
if hits=$(grep -rn --include='*.rs' -E 'crate::cli\b' src/commands); then
  while IFS= read -r h; do bad "$h: commands must not import the CLI"; done <<<"$hits"
fi
# The service layers do not reach into the pipeline or the tenant commands.
for dir in graph state report emulator output.rs; do
  if hits=$(grep -rn --include='*.rs' -E 'crate::(pipeline|tenant)\b' "src/$dir"); then
    while IFS= read -r h; do bad "$h: $dir is below pipeline and tenant"; done <<<"$hits"
  fi
done
# The lowest layer imports nothing above it.
for dir in util process; do
  if hits=$(grep -rn --include='*.rs' -E 'crate::(pipeline|tenant|state|report|graph|emulator|output)\b' "src/$dir"); then
    while IFS= read -r h; do bad "$h: $dir is the bottom layer"; done <<<"$hits"
  fi
done

# No function longer than 120 lines (rustfmt'd code: a fn's body ends at the first line
# that is its own indentation followed by "}").
python3 - <<'PY' || fail=1
import re, pathlib, sys
limit = 120
start = re.compile(r'^(\s*)(pub(\([a-z]+\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)')
bad = 0
for path in sorted(pathlib.Path('src').rglob('*.rs')):
    lines = path.read_text(encoding='utf-8').splitlines()
    i = 0
    while i < len(lines):
        m = start.match(lines[i])
        if m and not lines[i].rstrip().endswith(';'):
            indent = m.group(1)
            end = i
            while end < len(lines) and lines[end] != indent + '}':
                end += 1
            n = end - i + 1
            if n > limit and end < len(lines):
                print(f"layering: {path}:{i+1}: fn {m.group(7)} is {n} lines (at most {limit})", file=sys.stderr)
                bad = 1
        i += 1
sys.exit(bad)
PY
[ "$fail" = 0 ] && echo "layering: ok"
exit "$fail"
