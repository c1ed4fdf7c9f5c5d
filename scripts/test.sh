#!/usr/bin/env bash
# `make test`: every test against real Redis, PostgreSQL and NATS, started
# when absent (and stopped again afterwards), with the race detector on.
# The browser test needs Chromium: installed with apt-get when possible.
set -euo pipefail
cd "$(dirname "$0")/.."

find_chromium() {
  for c in chromium chromium-browser google-chrome; do
    command -v "$c" >/dev/null && { command -v "$c"; return 0; }
  done
  return 1
}
if ! find_chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[test] installing chromium for the browser test" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
  else
    echo "[test] Chromium not found: the browser test will fail. Install chromium (apt-get install chromium) or set CHROME_PATH." >&2
  fi
fi
CHROME_PATH=${CHROME_PATH:-$(find_chromium || true)}
export CHROME_PATH

# The browser tests inject axe-core, pinned in e2e/package-lock.json.
if [ ! -f e2e/node_modules/axe-core/axe.min.js ]; then
  if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[test] installing npm for axe-core" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >&2
  fi
  if command -v npm >/dev/null; then
    npm ci --prefix e2e --no-audit --no-fund >&2
  else
    echo "[test] npm not found: the browser tests will fail. Install it (apt-get install npm), then npm ci --prefix e2e." >&2
  fi
fi

# The security tests try NATS as a stranger would, with the real `nats` CLI
# (natscli, pinned): built into the git-ignored .data/bin when not on PATH.
if ! command -v nats >/dev/null && [ ! -x .data/bin/nats ]; then
  echo "[test] installing the nats CLI into .data/bin" >&2
  GOBIN=$PWD/.data/bin go install github.com/nats-io/natscli/nats@v0.5.0 >&2
fi
NATS_CLI=${NATS_CLI:-$(command -v nats || echo "$PWD/.data/bin/nats")}
export NATS_CLI

started=$(scripts/services.sh up)
cleanup() {
  # shellcheck disable=SC2086
  [ -z "$started" ] || scripts/services.sh down $started
}
trap cleanup EXIT
# The tests publish tallies (and start workers) on the local NATS: as the
# user worker of nats.conf, whose credentials a NATS without authorization
# ignores.
: "${TEST_NATS_URL:=$(scripts/services.sh nats-url worker)}"
export TEST_NATS_URL

# Arguments, when given, replace the default packages (make chaos uses that).
if [ $# -eq 0 ]; then
  set -- ./shared/... ./vote/... ./worker/... ./result/... ./e2e/...
fi
go test -race -count=1 -timeout 20m "$@"
