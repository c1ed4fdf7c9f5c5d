#!/usr/bin/env bash
# `make bench`: the load benchmark. Finds or starts Redis, PostgreSQL and
# NATS, then runs the load generator, which starts bin/vote, bin/worker and
# bin/result on a stream, subject and schema of their own and prints each
# phase as a table and a JSON line. Arguments go to the generator
# (`make bench ARGS='-duration 20s -clients 5000'`; -h lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(scripts/services.sh up)
cleanup() {
  # shellcheck disable=SC2086
  [ -z "$started" ] || scripts/services.sh down $started
}
trap cleanup EXIT
# Its workers publish as the NATS user worker of nats.conf (a NATS without
# authorization ignores the credentials); -nats-url in ARGS overrides.
go run ./e2e/loadgen -bin bin -nats-url "$(scripts/services.sh nats-url worker)" "$@"
