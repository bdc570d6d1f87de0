#!/usr/bin/env bash
# System packages the test suite needs beyond Python: Chromium and its driver for the dashboard's
# browser test, and pgbench for the flash-sale benchmark. Installs them with apt when missing and
# we are root; otherwise says what is missing (the tests that need them will say so too).
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)  # bench/flash_sale.py load generator

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "warning: ${missing[*]} not installed (need root and apt-get); browser tests cannot run" >&2
fi
