#!/bin/sh
# Creates or updates livevote's PostgreSQL roles (roles.sql beside this
# file) from the environment:
#
#   PG_MIGRATE_PASSWORD, PG_WORKER_PASSWORD, PG_RESULT_PASSWORD  required
#   PG_MIGRATE_USER, PG_WORKER_USER, PG_RESULT_USER              the role names;
#       livevote_migrate, livevote_worker, livevote_result when unset
#
# It connects as psql does (PGHOST, PGUSER, PGPASSWORD, PGDATABASE, …) or
# to the connection string given as its argument, as a superuser, in
# livevote's database. compose runs it on every start; run it again after
# changing a password. It prints no password.
set -eu
dir=$(dirname "$0")
missing=
for v in PG_MIGRATE_PASSWORD PG_WORKER_PASSWORD PG_RESULT_PASSWORD; do
  eval "val=\${$v:-}"
  [ -n "$val" ] || missing="$missing $v"
done
if [ -n "$missing" ]; then
  echo "roles.sh: set$missing (see .env.example)" >&2
  exit 2
fi
# The passwords reach psql through its \getenv (psql 15 or later), never
# on a command line that ps would show.
printf '%s\n' \
  '\getenv migrate_password PG_MIGRATE_PASSWORD' \
  '\getenv worker_password PG_WORKER_PASSWORD' \
  '\getenv result_password PG_RESULT_PASSWORD' \
  "\\i '$dir/roles.sql'" |
  psql -X -q -v ON_ERROR_STOP=1 \
    -v migrate_role="${PG_MIGRATE_USER:-livevote_migrate}" \
    -v worker_role="${PG_WORKER_USER:-livevote_worker}" \
    -v result_role="${PG_RESULT_USER:-livevote_result}" \
    -f - "$@"
