# A throwaway PostgreSQL server for the tests and benchmarks: Debian's packages, a cluster
# in a temporary directory, on a loopback port. Sourced (needs common.sh).
#
#   start_test_postgres    sets GANTRY_TEST_POSTGRES_URL (postgres://gantry@127.0.0.1:PORT/gantry)
#                          and GANTRY_TEST_POSTGRES_PASSWORD_FILE; the caller stops it with
#   stop_test_postgres
#
# initdb refuses to run as root, so as root the server runs as the `postgres` user the
# package creates (runuser). The password is random, in a file readable by the caller only.

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$dir" ] || { echo "postgres: error: no /usr/lib/postgresql/*/bin after installing postgresql" >&2; return 1; }
  echo "$dir"
}

start_test_postgres() {
  command -v runuser >/dev/null 2>&1 || ensure_apt util-linux
  ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || ensure_apt postgresql
  local bin user port
  bin=$(pg_bin)
  user=$(id -un)
  pg_dir=$(mktemp -d /tmp/gantry-pg.XXXXXX)
  chmod 755 "$pg_dir"
  local run=()
  if [ "$(id -u)" = 0 ]; then
    user=postgres
    chown postgres: "$pg_dir"
    run=(runuser -u postgres --)
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$pg_dir/password"
  GANTRY_TEST_POSTGRES_PASSWORD_FILE=$(mktemp /tmp/gantry-pg-password.XXXXXX)
  cp "$pg_dir/password" "$GANTRY_TEST_POSTGRES_PASSWORD_FILE"
  [ "$(id -u)" = 0 ] && chown postgres: "$pg_dir/password"
  "${run[@]}" "$bin/initdb" -D "$pg_dir/data" -U "$user" --auth=trust --no-sync -E UTF8 >"$pg_dir/initdb.log" 2>&1 \
    || { cat "$pg_dir/initdb.log" >&2; return 1; }
  # Password authentication over TCP, as an operator would run it; the socket stays in the temp dir.
  cat > "$pg_dir/data/pg_hba.conf" <<HBA
local all all trust
host all all 127.0.0.1/32 scram-sha-256
HBA
  "${run[@]}" "$bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $pg_dir -c fsync=on -c max_connections=200" start >/dev/null \
    || { cat "$pg_dir/server.log" >&2; return 1; }
  local password
  password=$(cat "$pg_dir/password")
  "${run[@]}" "$bin/psql" -h "$pg_dir" -p "$port" -U "$user" -d postgres -v ON_ERROR_STOP=1 -q \
    -c "CREATE ROLE gantry LOGIN PASSWORD '$password' CREATEDB" -c "CREATE DATABASE gantry OWNER gantry" >/dev/null
  GANTRY_TEST_POSTGRES_URL="postgres://gantry@127.0.0.1:$port/gantry"
  GANTRY_TEST_POSTGRES_ADMIN=("${run[@]}" "$bin/psql" -h "$pg_dir" -p "$port" -U "$user")
  export GANTRY_TEST_POSTGRES_URL GANTRY_TEST_POSTGRES_PASSWORD_FILE
  gantry_log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($pg_dir)"
}

stop_test_postgres() {
  [ -n "${pg_dir:-}" ] || return 0
  local run=()
  [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
  "${run[@]}" "$(pg_bin)/pg_ctl" -D "$pg_dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir" "${GANTRY_TEST_POSTGRES_PASSWORD_FILE:-}"
  pg_dir=""
}
