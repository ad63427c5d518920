#!/usr/bin/env bash
# Debian's chromium, which the browser tests (tests/test_browser.py) drive through Playwright.
# Playwright's own browser download needs a site other than the package registries, so it is
# not used. Nothing happens when chromium is already installed.
set -euo pipefail
BROWSER=${CHROMIUM:-/usr/bin/chromium}  # where the tests look for it
[ -x "$BROWSER" ] && exit 0

fail() { echo "install_browser: $*" >&2; exit 1; }
command -v apt-get >/dev/null ||
    fail "the browser tests need Debian's chromium at $BROWSER and this system has no apt-get; install chromium there by hand"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null ||
        fail "apt-get needs root to install chromium at $BROWSER; run make test as root or install chromium by hand"
    SUDO=sudo
fi
echo "install_browser: installing Debian's chromium with apt-get"
$SUDO apt-get update -qq || fail "apt-get update failed"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    chromium fonts-dejavu-core fonts-liberation >/dev/null || fail "apt-get install chromium failed"
[ -x "$BROWSER" ] || fail "apt-get installed chromium but $BROWSER is missing"
"$BROWSER" --version
