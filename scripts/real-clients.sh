#!/usr/bin/env bash
# Downloads a large random file from the real moreweb binary with real
# clients — curl -r, curl -C - after an interrupted transfer, wget -c, curl's
# ETag revalidation — and checks every result byte for byte with sha256sum:
#
#   scripts/real-clients.sh          # 64 MiB
#   scripts/real-clients.sh 256      # size in MiB
#
# Each step prints the command it ran (with $URL for the file's address) and
# what came back. Needs curl and wget (apt-get install -y curl wget). Exits
# non-zero at the first mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib-site.sh

mib=${1:-64}
work=$(mktemp -d)
server_pid=""
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/moreweb" ./cmd/moreweb
mkdir -p "$work/conf/site" "$work/dl"
head -c $((mib << 20)) /dev/urandom >"$work/conf/site/big.bin"
write_site_config "$work/conf/site.toml"
"$work/moreweb" -c "$work/conf/site.toml" 2>"$work/server.log" &
server_pid=$!
URL="http://127.0.0.1:$port/big.bin"
wait_until_serving "$URL"
cd "$work/dl"
src=$work/conf/site/big.bin
size=$(stat -c %s "$src")
full=$(sha256sum <"$src" | cut -d' ' -f1)
echo "serving big.bin: $size bytes, sha256 $full"

step() { printf '\n$ %s\n' "$*"; }
same() { # what, got, want
  if [[ $2 == "$3" ]]; then echo "  ok: $1"; else
    echo "  FAIL: $1: got $2, want $3"
    exit 1
  fi
}
status_of() { awk 'toupper($1) ~ /^HTTP/ { s = $2 } END { print s }' "$1"; }
field() { awk -v f="$2" 'BEGIN { IGNORECASE = 1 } tolower($1) == tolower(f) ":" { sub(/\r$/, ""); $1 = ""; sub(/^ /, ""); v = $0 } END { print v }' "$1"; }

step curl -sS -r 0-99 -D head.txt -o first100.bin '$URL'
curl -sS -r 0-99 -D head.txt -o first100.bin "$URL"
echo "  $(status_of head.txt) Content-Range: $(field head.txt Content-Range), $(stat -c %s first100.bin) bytes"
same "status" "$(status_of head.txt)" 206
same "first 100 bytes" "$(sha256sum <first100.bin)" "$(head -c 100 "$src" | sha256sum)"

step curl -sS -r -100 -o last100.bin '$URL'
curl -sS -r -100 -o last100.bin "$URL"
same "last 100 bytes" "$(sha256sum <last100.bin)" "$(tail -c 100 "$src" | sha256sum)"

step curl -sS -r 0-99,1000-1099 -D head.txt -o multi.bin '$URL'
curl -sS -r 0-99,1000-1099 -D head.txt -o multi.bin "$URL"
echo "  $(status_of head.txt) $(field head.txt Content-Type), $(stat -c %s multi.bin) bytes"
same "multipart/byteranges" "$(field head.txt Content-Type | cut -d';' -f1)" multipart/byteranges
same "two parts" "$(grep -c $'^Content-Range: bytes ' multi.bin)" 2

# An interrupted download: a rate-limited curl killed after a second.
step timeout 1 curl -sS --limit-rate 8M -o resume.bin '$URL' '# interrupted'
timeout 1 curl -sS --limit-rate 8M -o resume.bin "$URL" || true
partial=$(stat -c %s resume.bin)
echo "  interrupted at $partial of $size bytes"
step curl -sS -C - -D head.txt -o resume.bin '$URL'
curl -sS -C - -D head.txt -o resume.bin "$URL"
echo "  $(status_of head.txt) Content-Range: $(field head.txt Content-Range)"
same "resumed with 206" "$(status_of head.txt)" 206
same "Content-Range" "$(field head.txt Content-Range)" "bytes $partial-$((size - 1))/$size"
same "resumed file" "$(sha256sum <resume.bin | cut -d' ' -f1)" "$full"
step curl -sS -C - -D head.txt -o resume.bin '$URL' '# again, already complete'
curl -sS -C - -D head.txt -o resume.bin "$URL"
echo "  $(status_of head.txt) Content-Range: $(field head.txt Content-Range) (curl exited 0)"
same "complete file answered 416" "$(status_of head.txt)" 416
same "file untouched" "$(sha256sum <resume.bin | cut -d' ' -f1)" "$full"

step timeout 1 wget -q --limit-rate=8m '$URL' '# interrupted'
timeout 1 wget -q --limit-rate=8m "$URL" || true
partial=$(stat -c %s big.bin)
echo "  interrupted at $partial of $size bytes"
step wget -c '$URL'
wget -c "$URL" 2>wget.log
grep -E 'HTTP request sent|Length:' wget.log | sed 's/^/  /'
same "wget -c resumed with 206" "$(grep -o 'awaiting response... [0-9]*' wget.log | tail -1 | awk '{print $3}')" 206
same "wget -c file" "$(sha256sum <big.bin | cut -d' ' -f1)" "$full"
step wget -c '$URL' '# again, already complete'
wget -c "$URL" 2>wget.log
grep -E 'awaiting response|fully retrieved' wget.log | sed 's/^/  /'
same "wget: nothing to do" "$(grep -c 'fully retrieved' wget.log)" 1

step curl -sS --etag-save etag.txt -o whole.bin '$URL' '&&' curl -sS --etag-compare etag.txt -D head.txt -o whole.bin '$URL'
curl -sS --etag-save etag.txt -o whole.bin "$URL"
curl -sS --etag-compare etag.txt -D head.txt -o whole.bin "$URL"
echo "  ETag $(cat etag.txt); revalidation: $(status_of head.txt)"
same "whole file" "$(sha256sum <whole.bin | cut -d' ' -f1)" "$full"
same "If-None-Match answered 304" "$(status_of head.txt)" 304

printf '\nall real-client checks passed\n'
