#!/usr/bin/env bash
# Make sure the headless browser the report tests use (Debian's chromium) is present.
# Installs it when missing and the machine allows it (root + apt-get); otherwise prints exactly
# what to install and exits 0 (the browser test then skips locally and fails under CI=true).
set -euo pipefail
for b in chromium chromium-browser; do
  if command -v "$b" >/dev/null 2>&1; then exit 0; fi
done
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  echo "setup: installing Debian's chromium (needed by the report.html browser test) ..."
  if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1; then
    echo "setup: chromium installed at $(command -v chromium)"
    exit 0
  fi
  echo "setup: apt-get could not install chromium"
fi
echo "setup: chromium is missing. Install it with: sudo apt-get install chromium (Debian/Ubuntu)," \
     "or put a chromium/chromium-browser binary on PATH. Without it the browser test skips (fails when CI=true)."
exit 0
