#!/usr/bin/env bash
# What the whole test suite drives for real besides Python packages: Debian's chromium (the
# console's browser test) and prometheus (the guard's Prometheus signal source). `make test`
# runs this first: it installs what is missing with apt-get (as root, or with password-less
# sudo), or fails with the one command that does, so the suite never skips them silently.
set -euo pipefail

need=""
[ -x /usr/bin/chromium ] || need="$need chromium"
command -v prometheus >/dev/null || need="$need prometheus"
[ -z "$need" ] && exit 0

cmd="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$need"
echo "installing what the tests drive:$need" >&2
if [ "$(id -u)" = 0 ]; then
  sh -c "$cmd"
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo sh -c "$cmd"
else
  echo "error: the test suite needs$need; install with: sudo sh -c '$cmd'" >&2
  exit 1
fi
