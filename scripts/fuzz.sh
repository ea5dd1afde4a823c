#!/usr/bin/env bash
# Runs every fuzz target in the module for the given time each (default 10s):
#   scripts/fuzz.sh 10m
# Crashers are written under the package's testdata/fuzz and then fail
# `go test` until fixed: commit them as regression cases.
#
# Each target first replays its committed corpus as a plain test, so that a
# decided case failing again shows as that regression, by its file name,
# and not as a finding of this run. The targets give each input the same
# verdict every time (no clock, file times or state left by earlier inputs
# decide it), so a fixed crasher stays fixed and a new one reproduces from
# its file.
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
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    go test "$pkg" -count=1 -run "^${target}\$"
    echo "fuzz $pkg $target for $fuzztime"
    go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize"
  done
done
