#!/usr/bin/env bash
# Idempotent set-up: Debian packages (when root), .venv with pinned dependencies, offline data in Keras' cache.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEBIAN_PACKAGES="dataset-fashion-mnist bubblewrap chromium"

if command -v apt-get >/dev/null 2>&1; then
  missing=$(for p in $DEBIAN_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "setup: installing Debian packages: $missing"
      apt-get install -y -q $missing >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q $missing >/dev/null; }
    else
      echo "setup: please install (sudo apt-get install $missing); continuing without them" >&2
    fi
  fi
fi

stamp=.venv/.kit-installed
want=$(cat pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: creating .venv with the pinned dependencies (about a minute)"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -e . 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import autograder, dl4img, tensorflow, sklearn, nbgrader"
  echo "$want" > "$stamp"
fi
.venv/bin/autograder data >/dev/null || echo "setup: Fashion-MNIST is not available; practicals 03-05 need it (see README)" >&2
