#!/usr/bin/env bash
# `make bench`: the load benchmark. Finds or starts Redis, PostgreSQL and
# NATS, then runs the load generator, which starts bin/vote, bin/worker and
# bin/result on a stream, subject and schema of their own and prints each
# phase as a table and a JSON line. Arguments go to the generator
# (`make bench ARGS='-duration 20s -clients 5000'`; -h lists them;
# `make bench ARGS='-phases fanout,floor -clients 10000'` for the fan-out
# beside its floor only). The fan-out and viewers phases hold one socket
# per client in each of several processes: the generator raises the
# open-file limit, and says how many fit when it may not.
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
