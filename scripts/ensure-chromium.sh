#!/usr/bin/env bash
# Installs what the real-browser tests need (headless Chromium and sox) when it is missing.
# Prints nothing and exits 0 when both are already present.
set -euo pipefail

if [[ -x /usr/bin/chromium ]] && command -v sox >/dev/null 2>&1; then
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y chromium sox
