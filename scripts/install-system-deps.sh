#!/usr/bin/env bash
# System packages beyond Python, per purpose; running the platform needs none of them.
#   test   Chromium and its driver, for the queue dashboard's browser test (`make test`)
#   bench  wrk (load generator of `make bench-flash-sale` and the gateway benchmarks) and nginx
#          (the reference proxy of bench/gateway_proxy.py)
# Installs what is missing with apt when we are root (waiting for another apt process's lock
# instead of failing); otherwise says what is missing (the test or benchmark says so too).
set -euo pipefail

case "${1:-}" in
  test) wanted=(chromium:chromium chromedriver:chromium-driver) ;;
  bench) wanted=(wrk:wrk nginx:nginx-light) ;;
  *) echo "usage: $0 test|bench" >&2; exit 2 ;;
esac

missing=()
for pair in "${wanted[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} ..."
  export DEBIAN_FRONTEND=noninteractive
  # Another apt run (unattended upgrades, a second make) holds a lock: wait up to 10 minutes.
  # install waits for dpkg's lock itself; update ignores that option for the lists lock, so it
  # is retried while, and only while, its error is that lock.
  lock=(-o DPkg::Lock::Timeout=600)
  for attempt in $(seq 1 60); do
    if output=$(apt-get "${lock[@]}" update -qq 2>&1); then
      break
    fi
    case "$output" in
      *"Could not get lock"*) [ "$attempt" -lt 60 ] && sleep 10 && continue ;;
    esac
    echo "$output" >&2
    exit 1
  done
  apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "warning: ${missing[*]} not installed (need root and apt-get); install them for '$1'" >&2
fi
