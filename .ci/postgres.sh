#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the registry tests (issue #3): `start` and `stop`.
#
#   .ci/postgres.sh start   installs PostgreSQL from Debian's packages if missing, creates a
#                           cluster in $PGTMP, starts it on 127.0.0.1 at a free port, creates the
#                           database `docbridge_test`, writes its URL to $PGTMP/url and prints it.
#   .ci/postgres.sh stop    stops that cluster and removes $PGTMP.
#
# $PGTMP defaults to ${TMPDIR:-/tmp}/docbridge-postgres-$UID, so that `stop` finds what `start`
# made without being told. A caller does, for example:
#
#   .ci/postgres.sh start
#   export DOCBRIDGE_TEST_POSTGRES_URL="$(cat "${TMPDIR:-/tmp}/docbridge-postgres-$UID/url")"
#   cargo test ...
#   .ci/postgres.sh stop
#
# The cluster trusts every local connection (initdb -A trust) and listens on 127.0.0.1 only: it
# is for tests, lives in a temporary directory and holds nothing worth protecting.
set -euo pipefail

NAME=postgres
SRVTMP="${PGTMP:-${TMPDIR:-/tmp}/docbridge-postgres-$(id -u)}"
# shellcheck source-path=SCRIPTDIR source=server-common.sh
source "$(dirname "$0")/server-common.sh"

DATABASE=docbridge_test

# The newest installed server's binaries; Debian keeps them out of PATH.
bindir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then
        echo "$dir"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

ensure_installed() {
    if [[ -n "$(bindir)" ]]; then
        return
    fi
    if [[ "$(id -u)" != 0 ]]; then
        log "PostgreSQL is not installed and installing it needs root (apt-get install postgresql)"
        exit 1
    fi
    log "installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q postgresql >&2
    if [[ -z "$(bindir)" ]]; then
        log "postgresql installed but initdb was not found"
        exit 1
    fi
}

# Runs a command as the cluster's owner: PostgreSQL refuses to run as root.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    ensure_installed
    local bin
    bin="$(bindir)"
    if [[ -f "$SRVTMP/data/postmaster.pid" ]]; then
        log "a cluster is already running in $SRVTMP; stopping it first"
        stop
    fi
    rm -rf "$SRVTMP"
    mkdir -p "$SRVTMP"
    if [[ "$(id -u)" == 0 ]]; then
        chown postgres: "$SRVTMP"
    fi
    chmod 700 "$SRVTMP"
    as_owner "$bin/initdb" -D "$SRVTMP/data" -A trust -U postgres -E UTF8 --no-sync >"$SRVTMP/initdb.log" 2>&1 || {
        cat "$SRVTMP/initdb.log" >&2
        exit 1
    }
    local port="" attempt candidate
    for attempt in 1 2 3 4 5 6 7 8; do
        candidate="$(random_port)"
        if port_in_use "$candidate"; then
            continue
        fi
        # fsync off: a test database that a crash loses costs nothing and saves seconds.
        if as_owner "$bin/pg_ctl" -D "$SRVTMP/data" -l "$SRVTMP/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $candidate -c unix_socket_directories=$SRVTMP -c fsync=off -c max_connections=200" \
            start >&2; then
            port="$candidate"
            break
        fi
        log "start on port $candidate failed (attempt $attempt)"
        tail -n 5 "$SRVTMP/server.log" >&2 || true
    done
    if [[ -z "$port" ]]; then
        log "could not start PostgreSQL"
        exit 1
    fi
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$DATABASE"
    local url="postgres://postgres@127.0.0.1:$port/$DATABASE"
    echo "$url" >"$SRVTMP/url"
    chmod 644 "$SRVTMP/url"
    echo "export DOCBRIDGE_TEST_POSTGRES_URL=$url" >"$SRVTMP/env"
    log "PostgreSQL is up at $url (stop it with: $0 stop)"
    echo "$url"
}

stop() {
    local bin pid
    bin="$(bindir)"
    if [[ -f "$SRVTMP/data/postmaster.pid" ]]; then
        if [[ -n "$bin" ]] && as_owner "$bin/pg_ctl" -D "$SRVTMP/data" -m fast -w -t 60 stop >&2; then
            :
        else
            # pg_ctl missing or stuck: the postmaster's PID is the first line of its PID file.
            pid="$(head -n 1 "$SRVTMP/data/postmaster.pid" || true)"
            if [[ -n "$pid" ]]; then
                kill -TERM "$pid" 2>/dev/null || true
            fi
        fi
    fi
    stop_and_remove
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *)
        echo "usage: $0 start|stop   (cluster directory: \$PGTMP, default $SRVTMP)" >&2
        exit 2
        ;;
esac
