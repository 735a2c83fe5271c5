#!/usr/bin/env bash
# A throwaway ACME CA for the automatic-HTTPS tests (issue #15): `start` and `stop`.
#
#   .ci/pebble.sh start   installs Debian's `pebble` package unless `pebble` and
#                         `pebble-challtestsrv` are already there; makes a private CA for
#                         Pebble's own HTTPS (openssl); starts `pebble-challtestsrv` as a DNS
#                         server that answers 127.0.0.1 for every name, and `pebble` resolving
#                         through it, both on 127.0.0.1 at free ports; waits until Pebble's
#                         directory answers; writes $PEBBLETMP/env and prints the directory URL.
#   .ci/pebble.sh stop    stops both (by their PIDs) and removes $PEBBLETMP.
#
# $PEBBLETMP defaults to ${TMPDIR:-/tmp}/docbridge-pebble-$UID, so that `stop` finds what `start`
# made without being told. $PEBBLETMP/env holds the variables the tests read:
#
#   export DOCBRIDGE_TEST_PEBBLE_DIRECTORY=https://127.0.0.1:PORT/dir   the ACME directory
#   export DOCBRIDGE_TEST_PEBBLE_CA=$PEBBLETMP/ca.pem     trusts the directory's own HTTPS
#   export DOCBRIDGE_TEST_PEBBLE_MANAGEMENT=https://127.0.0.1:PORT     /roots/0: the issuing root
#   export DOCBRIDGE_TEST_PEBBLE_TLS_PORT=PORT    where Pebble sends TLS-ALPN-01 validations:
#                                                 the test's docbridge listens there
#   export DOCBRIDGE_TEST_PEBBLE_HTTP_PORT=PORT   where Pebble sends HTTP-01 validations: the
#                                                 HTTP-01 test's plain-HTTP listener is there
#
# PEBBLE_VA_NOSLEEP=1 (validate at once) and PEBBLE_WFE_NONCEREJECT=0 (no random bad nonces):
# the tests check docbridge, not its patience. Everything listens on 127.0.0.1 only.
set -euo pipefail

NAME=pebble
SRVTMP="${PEBBLETMP:-${TMPDIR:-/tmp}/docbridge-pebble-$(id -u)}"
# shellcheck source-path=SCRIPTDIR source=server-common.sh
source "$(dirname "$0")/server-common.sh"

# A port nobody listens on; the four chosen here are also kept distinct from each other.
free_port() {
    local candidate
    while :; do
        candidate="$(random_port)"
        if ! port_in_use "$candidate" && [[ " ${TAKEN:-} " != *" $candidate "* ]]; then
            TAKEN="${TAKEN:-} $candidate"
            echo "$candidate"
            return
        fi
    done
}

# Polls until $1 (a port) answers or the process named $2 has died.
wait_for() {
    local waited
    for waited in $(seq 1 150); do
        if port_in_use "$1"; then
            return 0
        fi
        if ! pid_alive "$2"; then
            log "$2 died before listening on $1:"
            tail -n 20 "$SRVTMP/$2.log" >&2 || true
            return 1
        fi
        sleep 0.1
    done
    log "$2 did not listen on $1 after $waited polls"
    tail -n 20 "$SRVTMP/$2.log" >&2 || true
    return 1
}

start() {
    apt_ensure pebble pebble
    apt_ensure pebble-challtestsrv pebble
    if pid_alive pebble || pid_alive challtestsrv; then
        log "servers are already running from $SRVTMP; stopping them first"
        stop
    fi
    rm -rf "$SRVTMP"
    mkdir -p "$SRVTMP"
    chmod 700 "$SRVTMP"

    # Pebble's own HTTPS (directory and management) needs a certificate: a private CA's.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=docbridge test Pebble CA" -keyout "$SRVTMP/ca.key" -out "$SRVTMP/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$SRVTMP/pebble.key" -out "$SRVTMP/pebble.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$SRVTMP/san.ext"
    openssl x509 -req -in "$SRVTMP/pebble.csr" -CA "$SRVTMP/ca.pem" -CAkey "$SRVTMP/ca.key" \
        -CAcreateserial -days 2 -extfile "$SRVTMP/san.ext" -out "$SRVTMP/pebble.pem" 2>/dev/null

    local dns_port directory_port management_port tls_port http_port
    TAKEN=""
    dns_port="$(free_port)"; directory_port="$(free_port)"; management_port="$(free_port)"
    tls_port="$(free_port)"; http_port="$(free_port)"
    local challtest_management
    challtest_management="$(free_port)"

    # Every name resolves to 127.0.0.1 (no AAAA: the validation goes to the IPv4 listener).
    nohup pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
        -dns01 "127.0.0.1:$dns_port" -management "127.0.0.1:$challtest_management" \
        -http01 "" -https01 "" -tlsalpn01 "" \
        </dev/null >"$SRVTMP/challtestsrv.log" 2>&1 &
    echo $! >"$SRVTMP/challtestsrv.pid"
    wait_for "$challtest_management" challtestsrv

    cat >"$SRVTMP/pebble.json" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:$directory_port",
    "managementListenAddress": "127.0.0.1:$management_port",
    "certificate": "$SRVTMP/pebble.pem",
    "privateKey": "$SRVTMP/pebble.key",
    "httpPort": $http_port,
    "tlsPort": $tls_port,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
EOF
    PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 nohup pebble -config "$SRVTMP/pebble.json" \
        -dnsserver "127.0.0.1:$dns_port" \
        </dev/null >"$SRVTMP/pebble.log" 2>&1 &
    echo $! >"$SRVTMP/pebble.pid"
    wait_for "$directory_port" pebble
    wait_for "$management_port" pebble

    local directory="https://127.0.0.1:$directory_port/dir"
    {
        echo "export DOCBRIDGE_TEST_PEBBLE_DIRECTORY=$directory"
        echo "export DOCBRIDGE_TEST_PEBBLE_CA=$SRVTMP/ca.pem"
        echo "export DOCBRIDGE_TEST_PEBBLE_MANAGEMENT=https://127.0.0.1:$management_port"
        echo "export DOCBRIDGE_TEST_PEBBLE_TLS_PORT=$tls_port"
        echo "export DOCBRIDGE_TEST_PEBBLE_HTTP_PORT=$http_port"
    } >"$SRVTMP/env"
    chmod 600 "$SRVTMP/env"
    log "Pebble is up at $directory, validating TLS-ALPN-01 on 127.0.0.1:$tls_port and HTTP-01 on 127.0.0.1:$http_port; variables in $SRVTMP/env (stop it with: $0 stop)"
    echo "$directory"
}

stop() {
    stop_and_remove pebble challtestsrv
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *)
        echo "usage: $0 start|stop   (server directory: \$PEBBLETMP, default $SRVTMP)" >&2
        exit 2
        ;;
esac
