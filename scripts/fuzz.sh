#!/usr/bin/env bash
# Runs every fuzz target in the module for the given time each (default 10s):
#   scripts/fuzz.sh 10m
# Crashers are written under the package's testdata/fuzz and then fail
# `go test` until fixed: commit them as regression cases.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $target for $fuzztime"
    go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime"
  done
done
