#!/usr/bin/env bash
# Finds or starts the voting system's dependencies on their standard local
# ports: Redis 6379, PostgreSQL 5432, NATS 4222.
#
#   scripts/services.sh up            reuse what listens, start the rest under
#                                     .data/; prints the names of those started
#   scripts/services.sh down NAME...  stop those (names as printed by up)
#   scripts/services.sh status
#   scripts/services.sh nats-url USER worker or result: the NATS URL with
#                                     that user's credentials
#
# NATS runs with nats.conf, whose users' passwords come from
# NATS_WORKER_PASSWORD and NATS_RESULT_PASSWORD; when those are unset (or
# empty: nats.conf would take an empty password as none) they are generated
# once into .data/nats/ (git-ignored) and reused.
#
# A missing server is installed with apt-get when that can be done (Debian or
# Ubuntu, as root); nats-server can also be built from the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
data=$root/.data
NATS_SERVER_VERSION=v2.15.2

say() { printf '[services] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port name seconds
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    listening "$1" && return 0
    sleep 0.1
  done
  die "$2 did not start listening on 127.0.0.1:$1 within $3s (see its log under .data/)"
}

apt_install() { # package...
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing $* with apt-get"
    if [ ! -f "$data/.apt-updated" ]; then
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 && touch "$data/.apt-updated"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
    return 0
  fi
  return 1
}

mark_started() { echo "$1"; }

# nats_password USER: $NATS_<USER>_PASSWORD when set, else the one kept in
# .data/nats/USER.password, generated the first time. nats-server trims the
# value it reads from the environment, so spaces around a password are not
# part of it, and a password of spaces only is the empty one, which anyone
# may present: such a value is refused.
nats_password() {
  local var="NATS_${1^^}_PASSWORD" file=$data/nats/$1.password
  if [ -n "${!var:-}" ]; then
    if [[ ${!var} =~ ^[[:space:]]|[[:space:]]$ ]]; then
      die "$var begins or ends with a space: nats-server would trim it (spaces only: no password at all)"
    fi
    if [[ ${!var} =~ ^[0-9.+-] ]]; then
      die "$var begins with a digit or a sign: nats-server reads such a value as a number (1e5…, 2k…) and refuses to start; begin it with a letter"
    fi
    printf '%s' "${!var}"
    return
  fi
  # A file of an older version may hold a password that begins with a
  # digit: made again.
  if [ ! -s "$file" ] || grep -q '^[0-9]' "$file"; then
    mkdir -p "$data/nats"
    # "p" and 32 hex digits: 128 random bits that need no escaping in a
    # URL, after a letter, since nats-server reads a value that begins
    # with a digit as a number (1e5…) and refuses it.
    (umask 077 && { printf p; od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; } >"$file.tmp" && mv "$file.tmp" "$file")
  fi
  cat "$file"
}

# urlencode percent-encodes all but the characters a URL's userinfo takes as
# they are, so a password of one's own may hold any character.
urlencode() {
  local LC_ALL=C s=$1 out='' c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
    [A-Za-z0-9._~-]) out+=$c ;;
    *) printf -v c '%%%02X' "'$c"; out+=$c ;;
    esac
  done
  printf '%s' "$out"
}

# nats_url USER: the local NATS with USER's credentials. A NATS without
# authorization (one started by the machine, say) ignores them.
nats_url() {
  local pw
  pw=$(nats_password "$1") # apart, so that a refused password stops the script
  printf 'nats://%s:%s@127.0.0.1:4222\n' "$1" "$(urlencode "$pw")"
}

start_redis() {
  if listening 6379; then say "redis: reusing 127.0.0.1:6379"; return; fi
  command -v redis-server >/dev/null || apt_install redis-server ||
    die "redis-server is not installed: install Redis 7 (apt-get install redis-server, brew install redis)"
  mkdir -p "$data/redis"
  # Append-only, so votes acknowledged by the vote server survive a restart.
  redis-server --port 6379 --bind 127.0.0.1 --dir "$data/redis" --appendonly yes \
    --daemonize yes --pidfile "$data/redis/redis.pid" --logfile "$data/redis/redis.log"
  wait_port 6379 redis 10
  mark_started redis
  say "redis: started on 127.0.0.1:6379 (data in .data/redis)"
}

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$d" ] && [ -x "$d/initdb" ]; then echo "$d"; return; fi
  if command -v initdb >/dev/null; then dirname "$(command -v initdb)"; return; fi
  return 1
}

start_postgres() {
  if listening 5432; then say "postgres: reusing 127.0.0.1:5432"; return; fi
  local bin
  bin=$(pg_bin) || { apt_install postgresql && bin=$(pg_bin); } ||
    die "PostgreSQL is not installed: install PostgreSQL 15+ (apt-get install postgresql, brew install postgresql)"
  local dir=$data/postgres as=()
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses to run as root.
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$dir" postgres
    chown -R postgres "$dir"
    as=(runuser -u postgres --)
  fi
  if [ ! -f "$dir/db/PG_VERSION" ]; then
    "${as[@]}" "$bin/initdb" -D "$dir/db" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 ||
      die "initdb failed: see .data/postgres/initdb.log"
  fi
  "${as[@]}" "$bin/pg_ctl" -D "$dir/db" -l "$dir/postgres.log" -w -t 30 \
    -o "-p 5432 -c listen_addresses=127.0.0.1 -k $dir" start >/dev/null
  wait_port 5432 postgres 30
  mark_started postgres
  say "postgres: started on 127.0.0.1:5432 (data in .data/postgres)"
}

nats_bin() {
  if command -v nats-server >/dev/null; then command -v nats-server; return; fi
  if [ -x "$data/bin/nats-server" ]; then echo "$data/bin/nats-server"; return; fi
  return 1
}

start_nats() {
  if listening 4222; then say "nats: reusing 127.0.0.1:4222"; return; fi
  local bin
  if ! bin=$(nats_bin); then
    if apt_install nats-server; then
      bin=$(nats_bin)
    elif command -v go >/dev/null; then
      say "building nats-server $NATS_SERVER_VERSION from the Go module proxy"
      GOBIN=$data/bin GOWORK=off go install "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION"
      bin=$data/bin/nats-server
    else
      die "nats-server is not installed: install it (apt-get install nats-server, brew install nats-server) or Go"
    fi
  fi
  mkdir -p "$data/nats"
  local worker_pw result_pw
  worker_pw=$(nats_password worker)
  result_pw=$(nats_password result)
  # Its own session: a Ctrl-C at the terminal must not reach it before
  # the services that use it have stopped.
  NATS_WORKER_PASSWORD=$worker_pw NATS_RESULT_PASSWORD=$result_pw \
    setsid "$bin" -c "$root/nats.conf" -a 127.0.0.1 -P "$data/nats/nats.pid" -l "$data/nats/nats.log" </dev/null >/dev/null 2>&1 &
  disown
  wait_port 4222 nats 10
  mark_started nats
  say "nats: started on 127.0.0.1:4222 (with nats.conf: users worker and result; log in .data/nats)"
}

stop_one() {
  case $1 in
  redis) [ -f "$data/redis/redis.pid" ] && kill "$(cat "$data/redis/redis.pid")" 2>/dev/null || true ;;
  postgres)
    local as=()
    [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
    "${as[@]}" "$(pg_bin)/pg_ctl" -D "$data/postgres/db" -m fast stop >/dev/null 2>&1 || true ;;
  nats) [ -f "$data/nats/nats.pid" ] && kill "$(cat "$data/nats/nats.pid")" 2>/dev/null || true ;;
  esac
  say "$1: stopped"
}

case ${1:-} in
up)
  mkdir -p "$data"
  start_redis
  start_postgres
  start_nats
  ;;
down)
  shift
  for s in "$@"; do stop_one "$s"; done
  ;;
nats-url)
  case ${2:-} in
  worker | result) nats_url "$2" ;;
  *) die "nats-url needs a user: worker or result" ;;
  esac
  ;;
status)
  for p in "redis 6379" "postgres 5432" "nats 4222"; do
    set -- $p
    if listening "$2"; then echo "$1: listening on 127.0.0.1:$2"; else echo "$1: not listening"; fi
  done
  ;;
*)
  echo "usage: $0 up|down NAME...|status|nats-url worker|result" >&2
  exit 2
  ;;
esac
