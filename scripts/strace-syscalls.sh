#!/usr/bin/env bash
# Counts the system calls moreweb makes per request for a hot file, with
# strace attached to the running server (every thread) while curl fetches the
# same URL N times on one keep-alive connection:
#
#   scripts/strace-syscalls.sh                 # builds ./cmd/moreweb, N=1000
#   scripts/strace-syscalls.sh /tmp/moreweb 2000
#
# Prints, for each file, the calls per request of the kinds that touch files
# or the socket. The Go runtime's own calls (futex, epoll_pwait, nanosleep…)
# are summed under "other". The access log is off so that only serving is
# counted. Needs strace and curl (apt-get install -y strace curl).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib-site.sh

work=$(mktemp -d)
server_pid=""
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

bin=${1:-}
n=${2:-1000}
if [[ -z $bin ]]; then
  bin=$work/moreweb
  go build -o "$bin" ./cmd/moreweb
fi

mkdir -p "$work/site/css"
head -c 1024 /dev/urandom | base64 -w 76 | head -c 1024 >"$work/site/css/small.css"
head -c $((48 << 10)) /dev/urandom >"$work/site/mid.bin"
head -c $((1 << 20)) /dev/urandom >"$work/site/big.bin"
echo '<!doctype html><title>home</title>' >"$work/site/index.html"
touch -d '1 hour ago' "$work/site"/*.* "$work/site/css"/*
# Deployed files are older than the cache's racy window (2s, on mtime and
# ctime): until then a small file is opened per request, not held in memory.
sleep 2.5

write_site_config "$work/site.toml"

"$bin" -c "$work/site.toml" 2>"$work/server.log" &
server_pid=$!
wait_until_serving "http://127.0.0.1:$port/"

count() { # path: prints one line of per-request counts
  local path=$1 url="http://127.0.0.1:$port$1"
  : >"$work/curl.cfg"
  for _ in $(seq "$n"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$work/curl.cfg"; done
  curl -fs -o /dev/null "$url" # warm: the first request fills caches
  strace -f -c -p "$server_pid" -o "$work/strace.out" 2>/dev/null &
  local strace_pid=$!
  sleep 0.5
  curl -fs -K "$work/curl.cfg"
  sleep 0.2
  kill -INT "$strace_pid"
  wait "$strace_pid" 2>/dev/null || true
  # strace -c columns: % time, seconds, usecs/call, calls, [errors], syscall.
  awk -v n="$n" -v path="$path" '
    NF >= 5 && $4 ~ /^[0-9]+$/ && $NF != "total" {
      if ($NF ~ /^(openat|close|fstat|newfstatat|statx|read|pread64|write|writev|sendfile|splice|getdents64)$/) c[$NF] = $4
      else o += $4 }
    END {
      printf "%-16s", path
      split("openat newfstatat fstat statx read pread64 close write sendfile splice", k, " ")
      for (i = 1; i <= 10; i++) if (c[k[i]] / n >= 0.005) printf " %s=%.2f", k[i], c[k[i]] / n
      printf "  other=%.2f  (per request, %d requests)\n", o / n, n
    }' "$work/strace.out"
}

echo "moreweb: $("$bin" -version)   binary: $bin"
for p in /css/small.css / /mid.bin /big.bin; do count "$p"; done
