#!/usr/bin/env bash
# Proves that file bodies reach the socket by sendfile(2), never through
# user space, and that a small file's head and body leave in one write(2):
#
#   scripts/strace-sendfile.sh            # 64 MiB file
#   scripts/strace-sendfile.sh 256        # size in MiB
#
# It builds moreweb, serves a temporary site under
#   strace -f -yy -e trace=sendfile,splice,read,write,pread64,openat
# (-yy names each descriptor: the file's path, or TCP:[from->to] for the
# connection), fetches a large random file and a small one with curl, checks
# both byte for byte with sha256sum, and reports what each cost. The small
# file is fetched three times: just written (opened and read per request),
# once settled (loaded into the cache: one open, one pread), then hot (no
# file call at all). Needs
# strace and curl (apt-get install -y strace curl). Exits non-zero when the
# large body did not go by sendfile.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib-site.sh

mib=${1:-64}
work=$(mktemp -d)
strace_pid=""
cleanup() {
  if [[ -n $strace_pid ]]; then
    server=$(pgrep -P "$strace_pid" || true)
    [[ -n $server ]] && kill "$server" 2>/dev/null
    wait "$strace_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/moreweb" ./cmd/moreweb
mkdir -p "$work/conf/site"
head -c $((mib << 20)) /dev/urandom >"$work/conf/site/big.bin"
printf 'body { color: #333; }\n' >"$work/conf/site/small.css"
# The config directory is watched (inotify): the trace is written elsewhere.
write_site_config "$work/conf/site.toml"

strace -f -yy -e trace=sendfile,splice,read,write,pread64,openat -o "$work/trace" \
  "$work/moreweb" -c "$work/conf/site.toml" 2>"$work/server.log" &
strace_pid=$!
wait_until_serving "http://127.0.0.1:$port/small.css"

# fetch PATH: downloads it, checks it and summarises the trace lines it caused.
fetch() {
  local path=$1 from
  sleep 0.2
  from=$(wc -l <"$work/trace")
  curl -fsS -o "$work/out" "http://127.0.0.1:$port$path"
  sleep 0.3
  tail -n +"$((from + 1))" "$work/trace" >"$work/part"
  local want got
  want=$(sha256sum <"$work/conf/site$path" | cut -d' ' -f1)
  got=$(sha256sum <"$work/out" | cut -d' ' -f1)
  echo "GET $path: $(stat -c %s "$work/out") bytes, sha256 ${got:0:16}… $([[ $want == "$got" ]] && echo matches || echo DIFFERS)"
  [[ $want == "$got" ]] || exit 1
  # One line per kind of call and descriptor. An interrupted call is
  # counted once, at its "resumed" half, with the descriptor its
  # "unfinished" half named.
  awk -v file="$path" '
    function kind(s,   fd) {
      fd = s; sub(/^[^(]*\(/, "", fd); sub(/>.*/, "", fd)
      if (fd ~ /TCP:\[/) fd = "socket"; else if (index(fd, file)) fd = "file"; else fd = "other"
      if (s ~ /^sendfile/) fd = "file->socket"
      if (s ~ /^openat/) fd = index(s, "\"" substr(file, 2) "\"") ? "file" : "other"
      call = s; sub(/\(.*/, "", call)
      return call " " fd
    }
    {
      pid = $1; rest = $0; sub(/^[0-9]+ +/, "", rest)
      if (rest ~ /^(---|\+\+\+)/) next
      if (rest ~ /<unfinished \.\.\.>$/) { pending[pid] = kind(rest); next }
      key = (rest ~ /^<\.\.\. /) ? pending[pid] : kind(rest)
      n = split(rest, parts, " = "); result = parts[n]
      if (result ~ /^-1 EAGAIN/) { again[key]++; next }
      calls[key]++; bytes[key] += result + 0
    }
    END {
      for (k in calls) {
        if (k ~ / other$/) continue # the runtime, the config watcher
        printf "  %-24s %5d calls", k, calls[k]
        if (k !~ /^openat/) printf " %11d bytes", bytes[k]
        if (again[k] && k ~ /^sendfile/) printf "  (+%d EAGAIN: socket buffer full, the poller waited)", again[k]
        else if (again[k]) printf "  (+%d EAGAIN: nothing more yet, the poller waited)", again[k]
        printf "\n"
      }
    }' "$work/part" | sort | tee "$work/summary"
}

echo "moreweb serving $mib MiB under strace -f -yy -e trace=sendfile,splice,read,write,pread64,openat"
fetch /big.bin
big_sendfile=$(awk '/^ *sendfile file->socket/ { print $5 }' "$work/summary")
big_file_reads=$(grep -Ec '^ *(p?read64|read) file' "$work/summary" || true)
fetch /small.css
echo "  its write, head and body together:"
grep -m1 -E 'write\([0-9]+<TCP' "$work/part" | sed 's/^[0-9]* */    /' | cut -c1-150
sleep 2.5 # settled: older than the cache's racy window, so held in memory
fetch /small.css
fetch /small.css
if [[ ${big_sendfile:-0} != $((mib << 20)) || $big_file_reads != 0 ]]; then
  echo "FAIL: ${big_sendfile:-0} bytes by sendfile, $big_file_reads kinds of read on the file" >&2
  exit 1
fi
echo "ok: all $big_sendfile bytes of the large body went by sendfile, none was read into user space"
