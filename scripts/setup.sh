#!/usr/bin/env bash
# Installs everything AgentNexus needs on a fresh Debian bookworm machine, idempotently:
# Debian packages (only those missing), the npm toolchain (Foundry, solc-js, forge-std,
# OpenZeppelin) when package-lock.json changed, and the Rust dependencies.
# Safe to run any number of times; a second run does nothing but checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the project needs beyond the machine image. python3-venv: `make lint` installs
# slither into a venv (scripts/slither.sh).
APT_PACKAGES=(jq postgresql docker.io curl python3-venv)

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' is required but not installed" >&2; exit 1; }; }
need node
need npm
need cargo

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Install from the lockfile when it changed since the last install (or nothing is installed).
# Not `npm ci`: the Foundry packages list optional platform packages that were never published
# (e.g. forge-darwin-amd64 1.7.1), which `npm ci` rejects as "missing from lock file".
# `npm install --no-save` installs exactly the locked versions and never rewrites the lockfile.
stamp=node_modules/.package-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x node_modules/.bin/forge ]; then
  echo "setup: npm install (locked)"
  npm install --no-save --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# npm may skip the Foundry packages' install scripts; the platform binaries are there anyway.
for tool in forge anvil cast; do
  [ -x "node_modules/.bin/$tool" ] || { echo "setup: node_modules/.bin/$tool missing after npm install" >&2; exit 1; }
done

cargo fetch --locked --quiet
