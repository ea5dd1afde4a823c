#!/usr/bin/env bash
# Runs every fuzz target in the module for the given time each (default 10s):
#   scripts/fuzz.sh 10m
# Crashers are written under the package's testdata/fuzz and then fail
# `go test` until fixed: commit them as regression cases.
#
# The run fails only on something reproducible: a committed case that
# fails again (each target first replays its committed corpus as a plain
# test, so such a regression is named by its file), or an input that
# fuzzing wrote under testdata/fuzz. The targets give each input the same
# verdict every time (no clock, file times or state left by earlier inputs
# decide it), so a fixed crasher stays fixed and a new one reproduces from
# its file.
#
# Go 1.26's fuzzing coordinator can report its own -fuzztime deadline as a
# failure, "context deadline exceeded" with no input written, when a worker
# is slow to stop on a loaded machine (fixed in Go 1.27). That is not a
# finding: the script says so, replays the corpus once more and goes on.
#
# FUZZMINIMIZETIME bounds how long Go minimizes an input (default 100x,
# i.e. 100 runs of the target). Go's own default is 60 s for every input
# that widens coverage, during which the worker fuzzes nothing and its runs
# are not counted: in a 10 s run both workers were minimizing from about
# the third second, shown as 0 execs/s. A crasher is still written, only
# less minimized; run again with FUZZMINIMIZETIME=60s to shrink it.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}
minimize=${FUZZMINIMIZETIME:-100x}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    go test "$pkg" -count=1 -run "^${target}\$"
    corpus=$dir/testdata/fuzz/$target
    before=$(ls "$corpus" 2>/dev/null || true)
    echo "fuzz $pkg $target for $fuzztime"
    status=0
    go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" 2>&1 | tee "$out" || status=$?
    [ "$status" -eq 0 ] && continue
    after=$(ls "$corpus" 2>/dev/null || true)
    failure=$(awk '/^--- FAIL: /{f=1; next} /^FAIL$/{f=0} f' "$out")
    fails=$(grep -c '^--- FAIL: ' "$out" || true)
    if [ "$after" = "$before" ] && [ "$fails" = 1 ] && [ "$failure" = "    context deadline exceeded" ]; then
      echo "fuzz $pkg $target: the fuzzing deadline reported as a failure, no input written: not a finding; replaying the corpus"
      go test "$pkg" -count=1 -run "^${target}\$"
      continue
    fi
    exit "$status"
  done
done
