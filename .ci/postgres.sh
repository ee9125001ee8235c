#!/usr/bin/env bash
# `install`: installs PostgreSQL 15 when missing (the tests then start their own throwaway
# servers). `start`: starts a throwaway PostgreSQL 15 on loopback (for benchmarks, or to run the
# tests against one server) and prints the shell lines that export its URL and stop it. Source
# it: `eval "$(bash .ci/postgres.sh start)"`.
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
# PG_FSYNC=on keeps PostgreSQL's durability (for benchmarks, so it pays what SQLite pays).
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

install_if_missing() {
  if [ ! -x "$PGBIN/postgres" ]; then
    echo "installing postgresql-15" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >&2
  fi
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}

case "${1:-start}" in
  install)
    # The tests start their own throwaway server from these binaries (wbots-test-services).
    install_if_missing
    ;;
  start)
    install_if_missing
    dir=$(mktemp -d /tmp/wbots-pg.XXXXXX)
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_pg "$PGBIN/initdb -D '$dir/data' -A trust -U postgres --no-sync" >/dev/null
    # fsync off by default: the tests kill the bridge, never the database, so its own
    # durability is not under test and the run is faster.
    fsync=${PG_FSYNC:-off}
    as_pg "$PGBIN/pg_ctl -D '$dir/data' -l '$dir/log' -w -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=$fsync -c max_connections=300\" start" >/dev/null
    echo "export WBOTS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/postgres"
    echo "export WBOTS_TEST_POSTGRES_DIR=$dir"
    ;;
  stop)
    dir=${WBOTS_TEST_POSTGRES_DIR:?}
    as_pg "$PGBIN/pg_ctl -D '$dir/data' -m fast -w stop" >/dev/null || true
    rm -rf "$dir"
    ;;
esac
