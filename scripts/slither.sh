#!/usr/bin/env bash
# Static analysis of contracts/ with slither (part of `make lint`).
#
#   scripts/slither.sh setup   install slither into .nexus/slither/venv (idempotent: a stamp
#                              keyed on tools/slither/requirements.txt skips it when current)
#   scripts/slither.sh         setup, then build, analyse and compare with slither.triage.toml
#
# How it runs offline: slither-analyzer and crytic-compile come from PyPI, pinned in
# tools/slither/requirements.txt. The venv's bin/ is never put on PATH (it holds solc-select's
# `solc`, which would try to download compilers); its slither is called by path. The contracts
# are compiled here by forge through the project's solc shim (foundry.toml: solc = tools/solc),
# into a private output directory so the regular out/ and cache/ are left alone:
# - only contracts/ is built (`forge build contracts`), so test and script helpers are not
#   analysed;
# - the directory is emptied first: an incremental forge build adds a build-info file per run
#   and slither would analyse the stale ones too. (solc-js builds contracts/ in about 20 s.)
# slither then reads that build (--foundry-ignore-compile, which also stops crytic-compile from
# running `forge clean`) and reports findings that touch contracts/ (--include-paths; an
# anchored absolute path, because a bare "contracts/" also matches
# node_modules/@openzeppelin/contracts/). slither exits non-zero whenever it finds anything, so
# its status is not the verdict: tools/slither/triage.py compares its JSON report with
# slither.triage.toml and fails on any untriaged High or Medium finding.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ from the triage script and its tests
# Physical path: slither matches --include-paths against resolved file names.
root=$(pwd -P)

dir=.nexus/slither
venv=$dir/venv
requirements=tools/slither/requirements.txt

setup() {
  local python=${PYTHON:-python3}
  command -v "$python" >/dev/null || { echo "slither: $python is required" >&2; exit 1; }
  # tomllib (triage.py) needs 3.11; slither itself needs 3.10.
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "slither: Python 3.11 or newer is required ($python: $("$python" --version 2>&1))" >&2
    exit 1
  fi
  local version
  version=$("$python" -c 'import sys; print(sys.version.split()[0])')
  # The venv is rebuilt when the pins or the interpreter change.
  local want
  want="$(sha256sum "$requirements" | cut -d' ' -f1) $version"
  if [ -x "$venv/bin/slither" ] && [ "$(cat "$venv/.installed" 2>/dev/null)" = "$want" ]; then
    return
  fi
  echo "slither: installing slither-analyzer into $venv (pinned in $requirements)"
  rm -rf "$venv"
  mkdir -p "$dir"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --require-virtualenv -r "$requirements"
  echo "$want" > "$venv/.installed"
}

analyse() {
  # The triage logic's own tests first (stdlib only, well under a second).
  local tests
  if ! tests=$("$venv/bin/python" -m unittest discover -s tools/slither -p 'test_*.py' 2>&1); then
    echo "$tests" >&2
    echo "slither: tools/slither/test_triage.py failed" >&2
    exit 1
  fi

  local build=$dir/build log=$dir/forge-build.log report=$dir/report.json
  rm -rf "$build"
  echo "slither: building contracts/ with build info (forge through tools/solc)"
  if ! FOUNDRY_OUT="$build/out" FOUNDRY_CACHE_PATH="$build/cache" \
    node_modules/.bin/forge build --build-info contracts >"$log" 2>&1; then
    cat "$log" >&2
    echo "slither: forge build failed" >&2
    exit 1
  fi

  echo "slither: analysing contracts/"
  rm -f "$report" # slither refuses to overwrite its JSON output
  # forge on PATH for crytic-compile (`forge config --json`); the venv's bin/ deliberately not.
  local status=0
  PATH="$root/node_modules/.bin:$PATH" "$venv/bin/slither" . \
    --foundry-ignore-compile \
    --foundry-out-directory "$build/out" \
    --include-paths "^$(printf '%s' "$root" | sed 's/[][\.*^$+?(){}|]/\\&/g')/contracts/" \
    --json "$report" >"$dir/slither.log" 2>&1 || status=$?
  if [ ! -s "$report" ]; then
    cat "$dir/slither.log" >&2
    echo "slither: no report (exit status $status)" >&2
    exit 1
  fi
  local verdict=0
  "$venv/bin/python" tools/slither/triage.py "$report" slither.triage.toml || verdict=$?
  # 2: slither failed or the triage file is malformed; show what slither said.
  [ "$verdict" -ne 2 ] || tail -n 40 "$dir/slither.log" >&2
  return "$verdict"
}

case "${1:-}" in
  setup) setup ;;
  "")
    # Two statements, not `setup && analyse`: set -e does not apply on the left of &&.
    setup
    analyse
    ;;
  *) echo "usage: scripts/slither.sh [setup]" >&2; exit 2 ;;
esac
