# Shared by the throwaway servers of .ci/webdav.sh, .ci/sftp.sh, .ci/azurite.sh, .ci/gcs.sh
# (issue #16), .ci/s3.sh, .ci/postgres.sh and .ci/pebble.sh; sourced, never run. Each of those
# scripts sets NAME and SRVTMP before sourcing it, then uses:
#
#   log MESSAGE...             a line on stderr, prefixed with the script's name
#   port_in_use PORT           whether something answers on 127.0.0.1:PORT
#   random_port                a random port below the kernel's range for outgoing connections
#   random_hex BYTES           that many random bytes, in hex
#   need_python3 MESSAGE...    ends the script with MESSAGE unless python3 is there
#   pip_venv VENV PACKAGE...   a virtualenv under $CI_CACHE with those packages; prints its path
#   apt_ensure COMMAND PACKAGE...  installs the Debian packages unless COMMAND exists
#   start_on_free_port TAG LAUNCH [POLLS]
#                              calls `LAUNCH PORT` (which starts one server in the background
#                              and writes its PID to $SRVTMP/TAG.pid) with random free ports
#                              until the port answers; prints the port
#   pid_alive TAG              whether the process in $SRVTMP/TAG.pid is running
#   stop_pidfile TAG           stops the process in $SRVTMP/TAG.pid (TERM, then KILL), and any
#                              children it left (sshd's per-connection processes)
#   stop_and_remove [TAG...]   `stop`: stop_pidfile for each TAG, then removes $SRVTMP
#
# Installs go to $CI_CACHE (default ~/.cache/docbridge-ci) rather than $SRVTMP, so that a second
# `start` does not install again; each server's files go to $SRVTMP, which `stop` removes.

# shellcheck shell=bash
CI_CACHE="${DOCBRIDGE_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/docbridge-ci}"

log() { echo "$NAME.sh: $*" >&2; }

# A failing step under `set -e` would otherwise end the script without a word.
set -o errtrace
trap 'log "failed at line $LINENO: $BASH_COMMAND"' ERR

port_in_use() {
    # A refused connection means nobody listens; the subshell keeps the descriptor local.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

random_hex() {
    od -An -tx1 -N "$1" /dev/urandom | tr -d ' \n'
}

need_python3() {
    if ! command -v python3 >/dev/null 2>&1; then
        log "$@"
        exit 1
    fi
}

# A virtualenv per tool keeps their pinned dependencies apart and out of the system Python; a
# marker file names what was installed, so a change of package list installs again.
pip_venv() {
    local venv="$CI_CACHE/$1"
    shift
    local want="$*"
    if [[ -f "$venv/.installed" && "$(cat "$venv/.installed")" == "$want" ]]; then
        echo "$venv"
        return
    fi
    need_python3 "python3 is needed to install $want"
    log "installing $want from PyPI into $venv"
    rm -rf "$venv"
    mkdir -p "$CI_CACHE"
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >&2
    echo "$want" >"$venv/.installed"
    echo "$venv"
}

apt_ensure() {
    local command="$1"
    shift
    if [[ -x "$command" ]] || command -v "$command" >/dev/null 2>&1; then
        return
    fi
    if [[ "$(id -u)" != 0 ]]; then
        log "$command is missing and installing it needs root (apt-get install $*)"
        exit 1
    fi
    log "installing $* from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    # The package lists may be absent on a fresh machine; update once, then install.
    apt-get install -y -q "$@" >&2 2>/dev/null || {
        apt-get update -q >&2
        apt-get install -y -q "$@" >&2
    }
    if [[ ! -x "$command" ]] && ! command -v "$command" >/dev/null 2>&1; then
        log "$* installed but $command was not found"
        exit 1
    fi
}

pid_alive() {
    [[ -f "$SRVTMP/$1.pid" ]] && kill -0 "$(cat "$SRVTMP/$1.pid")" 2>/dev/null
}

# 20000-31999: below Linux's ephemeral range (32768-60999), where the local port of any outgoing
# connection (a test's, a package download's) can hold a port that nothing listens on, so that
# the check of `port_in_use` passes and the server's `bind` then fails.
random_port() {
    echo $((20000 + RANDOM % 12000))
}

start_on_free_port() {
    local tag="$1" launch="$2" polls="${3:-100}"
    local port="" attempt candidate waited=0
    for attempt in 1 2 3 4 5 6 7 8; do
        candidate="$(random_port)"
        if port_in_use "$candidate"; then
            continue
        fi
        "$launch" "$candidate"
        # Polls until the port answers or the server has died (a port taken meanwhile).
        for waited in $(seq 1 "$polls"); do
            if port_in_use "$candidate"; then
                port="$candidate"
                break
            fi
            if ! pid_alive "$tag"; then
                break
            fi
            sleep 0.1
        done
        if [[ -n "$port" ]]; then
            break
        fi
        log "$tag on port $candidate did not start (attempt $attempt, waited $waited polls)"
        tail -n 5 "$SRVTMP/$tag.log" >&2 2>/dev/null || true
        stop_pidfile "$tag"
    done
    if [[ -z "$port" ]]; then
        log "could not start $tag"
        exit 1
    fi
    echo "$port"
}

stop_pidfile() {
    local tag="$1" pid children waited
    [[ -f "$SRVTMP/$tag.pid" ]] || return 0
    pid="$(cat "$SRVTMP/$tag.pid")"
    if kill -0 "$pid" 2>/dev/null; then
        # Children first: sshd's per-connection processes outlive their listener otherwise.
        children="$(ps -o pid= --ppid "$pid" 2>/dev/null | tr -s ' \n' ' ' || true)"
        kill -TERM "$pid" 2>/dev/null || true
        for child in $children; do
            kill -TERM "$child" 2>/dev/null || true
        done
        for waited in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$tag ($pid) ignored SIGTERM for $waited polls; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$SRVTMP/$tag.pid"
}

stop_and_remove() {
    local tag
    if [[ ! -d "$SRVTMP" ]]; then
        log "nothing to stop in $SRVTMP"
        return 0
    fi
    for tag in "$@"; do
        stop_pidfile "$tag"
    done
    rm -rf "$SRVTMP"
    log "stopped and removed $SRVTMP"
}
