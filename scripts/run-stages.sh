#!/usr/bin/env bash
# Run make's test stages one after another; a failing stage does not stop the others (CI reports every
# failure of a run). Prints each stage's result and wall time, and exits non-zero when any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
results=()
failed=0
started=$(date +%s)
for stage in "$@"; do
  begin=$(date +%s)
  if make --no-print-directory "$stage"; then result=passed; else result=FAILED; failed=1; fi
  results+=("$(printf '%-14s %-7s %6ss' "$stage" "$result" "$(( $(date +%s) - begin ))")")
done
echo "== stages"
printf '   %s\n' "${results[@]}"
echo "== wall time $(( $(date +%s) - started ))s"
if [ "$failed" -ne 0 ]; then
  echo "== some stages FAILED"
  exit 1
fi
echo "== all tests passed"
