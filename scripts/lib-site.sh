# Sourced by the scripts that run the real binary on a throwaway site.
#
#   write_site_config FILE   writes a one-site config serving "site" (beside
#                            FILE) on a random loopback port, and sets $port
#   wait_until_serving URL   waits up to 10 s for URL to answer

write_site_config() {
  port=$((20000 + RANDOM % 20000))
  cat >"$1" <<EOF_CONFIG
[server]
access_log = "off"

[[listener]]
name = "web"
address = "127.0.0.1:$port"

[[vhost]]
hosts = ["localhost"]
default = true
root = "site"
EOF_CONFIG
}

wait_until_serving() {
  for _ in $(seq 100); do
    curl -fs -o /dev/null -r 0-0 "$1" && return 0
    sleep 0.1
  done
  echo "the server did not answer $1" >&2
  return 1
}
