#!/usr/bin/env bash
# `make run`: the whole system on this machine. Reuses Redis, PostgreSQL and
# NATS when they listen on their standard ports, starts them otherwise, then
# runs the worker, the result server and the vote server. Ctrl-C stops what
# this script started and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${VOTE_ADDR:=:8080}" "${RESULT_ADDR:=:8081}" "${WORKER_ADDR:=:8082}"

started=$(scripts/services.sh up)
# The worker publishes as the NATS user worker, the result server
# subscribes as result (nats.conf); a NATS_URL of one's own is used as is.
worker_nats=${NATS_URL:-$(scripts/services.sh nats-url worker)}
result_nats=${NATS_URL:-$(scripts/services.sh nats-url result)}
pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "[run] stopping..."
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  # shellcheck disable=SC2086
  [ -z "$started" ] || scripts/services.sh down $started
  echo "[run] stopped"
}
trap stop INT TERM EXIT

# Each line of a service's log is prefixed with its name.
start() { # name binary [VAR=value...]
  local name=$1 bin=$2
  shift 2
  env "$@" "./bin/$bin" > >(sed -u "s/^/[$name] /") 2>&1 &
  pids+=("$!")
}
start worker worker NATS_URL="$worker_nats"
start result result NATS_URL="$result_nats"
start vote vote

wait_ready() { # url name
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "[run] $2 is not ready yet: see its log lines above ($1)" >&2
}
if command -v curl >/dev/null; then
  wait_ready "http://127.0.0.1:${WORKER_ADDR##*:}/readyz" worker
  wait_ready "http://127.0.0.1:${RESULT_ADDR##*:}/readyz" result
  wait_ready "http://127.0.0.1:${VOTE_ADDR##*:}/readyz" vote
fi

cat <<MSG

  Vote:      http://localhost:${VOTE_ADDR##*:}            (Cats vs Dogs)
  Results:   http://localhost:${RESULT_ADDR##*:}
  New poll:  http://localhost:${VOTE_ADDR##*:}/new
  Tallies:   nats sub '${TALLY_SUBJECT:-tally.changed}.>'   (every poll; ${TALLY_SUBJECT:-tally.changed} alone: Cats vs Dogs)

  Ctrl-C stops everything this started.

MSG
wait
