#!/usr/bin/env bash
# Makes Debian's chromium available for the console's browser tests
# (Playwright cannot download its own browser here). Installs it with
# apt-get when missing and running as root; otherwise says what to run.
set -euo pipefail
bin="${CHROMIUM:-/usr/bin/chromium}"
if [ -x "$bin" ]; then
	exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "installing chromium (Debian package) for the browser tests"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq chromium >/dev/null
	exit 0
fi
echo "chromium is missing: install it (sudo apt-get install -y chromium) or set CHROMIUM to its path" >&2
exit 1
