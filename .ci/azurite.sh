#!/usr/bin/env bash
# A throwaway Azure Blob Storage endpoint for the azblob storage tests (issue #16): `start` and
# `stop`.
#
#   .ci/azurite.sh start   installs Azurite from the npm registry (`npm install azurite` into
#                          $CI_CACHE/npm-azurite, not globally) unless it is there, starts
#                          `azurite-blob` on 127.0.0.1 at a free port over a folder in
#                          $AZURITETMP, creates the container `docbridge-test` (a PUT signed with
#                          SharedKey, as any client would), writes $AZURITETMP/env.
#   .ci/azurite.sh stop    stops it and removes $AZURITETMP.
#
# $AZURITETMP defaults to ${TMPDIR:-/tmp}/docbridge-azurite-$UID. $AZURITETMP/env holds:
#
#   export DOCBRIDGE_TEST_AZBLOB_ENDPOINT=http://127.0.0.1:PORT/devstoreaccount1
#   export DOCBRIDGE_TEST_AZBLOB_CONTAINER=docbridge-test
#   export DOCBRIDGE_TEST_AZBLOB_ACCOUNT_NAME=devstoreaccount1
#   export DOCBRIDGE_TEST_AZBLOB_ACCOUNT_KEY=<Azurite's well-known development key>
#
# The account and key are the public ones from Azurite's README: Azurite accepts no other
# unless told to, and the server listens on 127.0.0.1 only. Telemetry is off (the machine has no
# internet, and a test server should not phone home); API versions newer than this Azurite knows
# are accepted (--skipApiVersionCheck), since the Rust SDKs move faster than Azurite.
set -euo pipefail

NAME=azurite
SRVTMP="${AZURITETMP:-${TMPDIR:-/tmp}/docbridge-azurite-$(id -u)}"
# shellcheck source-path=SCRIPTDIR source=server-common.sh
source "$(dirname "$0")/server-common.sh"

ACCOUNT=devstoreaccount1
# Azurite's documented development key (its README, "Default Storage Account").
ACCOUNT_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
CONTAINER=docbridge-test
API_VERSION=2021-08-06
NPM_DIR="$CI_CACHE/npm-azurite"

ensure_installed() {
    local bin="$NPM_DIR/node_modules/.bin/azurite-blob"
    if [[ -x "$bin" ]]; then
        echo "$bin"
        return
    fi
    apt_ensure npm nodejs npm
    log "installing azurite from the npm registry into $NPM_DIR"
    mkdir -p "$NPM_DIR"
    (cd "$NPM_DIR" && npm install --no-audit --no-fund --loglevel=error azurite >&2)
    if [[ ! -x "$bin" ]]; then
        log "npm installed azurite but $bin is missing"
        exit 1
    fi
    echo "$bin"
}

launch_azurite() {
    local port="$1"
    nohup "$AZURITE" --blobHost 127.0.0.1 --blobPort "$port" --location "$SRVTMP/data" \
        --skipApiVersionCheck --disableTelemetry \
        </dev/null >"$SRVTMP/azurite.log" 2>&1 &
    echo $! >"$SRVTMP/azurite.pid"
}

# Creates the container: `PUT /ACCOUNT/CONTAINER?restype=container` with a SharedKey
# signature over the canonical string of the Blob service (version 2015-02-21 and later).
create_container() {
    local endpoint="$1" date signature status
    date="$(LC_ALL=C TZ=GMT date '+%a, %d %b %Y %H:%M:%S GMT')"
    local string_to_sign
    # VERB, then eleven standard headers (all empty here; Content-Length empty when 0), then
    # the x-ms-* headers and the resource: /ACCOUNT plus the URL's path, plus its query.
    string_to_sign="PUT"$'\n\n\n\n\n\n\n\n\n\n\n\n'"x-ms-date:$date"$'\n'"x-ms-version:$API_VERSION"$'\n'"/$ACCOUNT/$ACCOUNT/$CONTAINER"$'\n'"restype:container"
    local hexkey
    hexkey="$(echo -n "$ACCOUNT_KEY" | base64 -d | od -An -tx1 | tr -d ' \n')"
    signature="$(printf '%s' "$string_to_sign" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hexkey" -binary | base64 -w0)"
    status="$(curl -s -o "$SRVTMP/create-container.out" -w '%{http_code}' -X PUT \
        -H "x-ms-date: $date" -H "x-ms-version: $API_VERSION" -H 'Content-Length: 0' \
        -H "Authorization: SharedKey $ACCOUNT:$signature" \
        "$endpoint/$CONTAINER?restype=container")"
    if [[ "$status" != 201 ]]; then
        log "creating the container $CONTAINER answered $status:"
        cat "$SRVTMP/create-container.out" >&2
        exit 1
    fi
}

start() {
    AZURITE="$(ensure_installed)"
    if [[ -d "$SRVTMP" ]]; then
        log "a server from a previous start is in $SRVTMP; stopping it first"
        stop
    fi
    mkdir -p "$SRVTMP/data"
    chmod 700 "$SRVTMP"
    local port
    # Node takes a few seconds to load Azurite on a busy machine: up to 60 s of polls.
    port="$(start_on_free_port azurite launch_azurite 600)"
    local endpoint="http://127.0.0.1:$port/$ACCOUNT"
    create_container "$endpoint"
    {
        echo "export DOCBRIDGE_TEST_AZBLOB_ENDPOINT=$endpoint"
        echo "export DOCBRIDGE_TEST_AZBLOB_CONTAINER=$CONTAINER"
        echo "export DOCBRIDGE_TEST_AZBLOB_ACCOUNT_NAME=$ACCOUNT"
        echo "export DOCBRIDGE_TEST_AZBLOB_ACCOUNT_KEY=$ACCOUNT_KEY"
    } >"$SRVTMP/env"
    chmod 600 "$SRVTMP/env"
    log "Azurite $("$AZURITE" --version 2>/dev/null || echo '?') is up at $endpoint, container $CONTAINER; variables in $SRVTMP/env (stop it with: $0 stop)"
}

stop() {
    stop_and_remove azurite
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *)
        echo "usage: $0 start|stop   (server directory: \$AZURITETMP, default $SRVTMP)" >&2
        exit 2
        ;;
esac
