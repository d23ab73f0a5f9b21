#!/usr/bin/env bash
# Headless Chromium for tests/test_plugin_browser.py: Debian's chromium + chromium-driver.
# Installs them with apt-get when they are missing and this runs as root (as CI does);
# otherwise it changes nothing. It never fails the build itself: without a browser the
# browser test fails, with a message saying what to install.
set -uo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-browser: chromium/chromium-driver missing; as root: apt-get install chromium chromium-driver" >&2
  exit 0
fi
echo "ensure-browser: installing Debian's chromium and chromium-driver" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null; }; then
  echo "ensure-browser: apt-get could not install chromium; tests/test_plugin_browser.py will fail" >&2
fi
exit 0
