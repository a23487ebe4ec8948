#!/usr/bin/env bash
# pg_env.sh COMMAND [ARGS...]: runs COMMAND with a throwaway PostgreSQL 15 (Debian postgresql-15),
# as ctest does for the unit tests named test_*_pg.
#
# Unless CINDER_TEST_PG_URL is already set (then COMMAND runs against that database as is), it
# creates a temporary directory owned by the `postgres` user, runs initdb (trust auth, UTF8, C
# locale) and starts the server on a free loopback port (fsync off, its socket in that directory),
# as `postgres` when run as root (PostgreSQL refuses to run as root), and exports to COMMAND:
#   CINDER_TEST_PG_URL    postgresql://postgres@127.0.0.1:PORT/cinder_test (an empty database)
#   CINDER_TEST_PG_STOP   a shell command that stops the server (fast shutdown) and waits
#   CINDER_TEST_PG_START  a shell command that starts it again on the same port and waits
# The server is killed and the directory removed when COMMAND exits; its exit status is ours.
set -euo pipefail

if [ -n "${CINDER_TEST_PG_URL:-}" ]; then exec "$@"; fi

bin=${CINDER_PG_BIN:-/usr/lib/postgresql/15/bin}
for tool in initdb pg_ctl createdb; do
  if [ ! -x "$bin/$tool" ]; then
    echo "pg_env.sh: $bin/$tool not found: install postgresql-15 (make deps)" >&2
    exit 1
  fi
done

dir=$(mktemp -d /tmp/cinder-pg-XXXXXX)
as=()
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$dir"
  as=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi
# PostgreSQL's tools want a current directory they may read.
pg() { (cd "$dir" && "${as[@]}" "$@"); }

cleanup() {
  pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

if ! pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
  cat "$dir/initdb.log" >&2
  exit 1
fi

free_port() {
  perl -MIO::Socket::INET -e \
    'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0)->sockport'
}

# A free port: bind port 0, close, use it; another process may take it meanwhile: try again.
started=
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  port=$(free_port)
  opts="-c fsync=off -c listen_addresses=127.0.0.1 -p $port -k $dir"
  if pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$opts" -w -t 60 start >/dev/null; then
    started=1
    break
  fi
  if ! grep -qiE 'could not (bind|create listen)|in use' "$dir/server.log" 2>/dev/null; then break; fi
done
if [ -z "$started" ]; then
  echo "pg_env.sh: PostgreSQL did not start:" >&2
  cat "$dir/server.log" >&2 || true
  exit 1
fi
pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres cinder_test

q() { if [ $# -gt 0 ]; then printf '%q ' "$@"; fi; }
pgq="cd $(q "$dir") && ${as[*]+$(q "${as[@]}")}"
export CINDER_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/cinder_test"
export CINDER_TEST_PG_STOP="$pgq $(q "$bin/pg_ctl" -D "$dir/data" -m fast -w stop) >/dev/null"
export CINDER_TEST_PG_START="$pgq $(q "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$opts" -w -t 60 start) >/dev/null"

set +e
"$@"
rc=$?
set -e
if [ "$rc" != 0 ]; then
  echo "--- PostgreSQL log (last 40 lines):" >&2
  tail -n 40 "$dir/server.log" >&2 || true
fi
exit "$rc"
