#!/usr/bin/env bash
# A throwaway SFTP server for the SFTP storage tests (issue #16): `start` and `stop`.
#
#   .ci/sftp.sh start   installs Debian's openssh-server (and openssh-client) if missing,
#                       creates the system user `docbridge-sftp` if missing, generates a host key
#                       and an ed25519 key for that user, and runs `/usr/sbin/sshd -D -e` on
#                       127.0.0.1 at a free port with `Subsystem sftp internal-sftp`, the user
#                       chrooted (ChrootDirectory, owned by root) to a folder whose subfolder
#                       `data` is theirs to write; writes $SFTPTMP/env and a known_hosts file.
#   .ci/sftp.sh stop    stops sshd (and the sessions it forked) and removes $SFTPTMP.
#
# $SFTPTMP defaults to ${TMPDIR:-/tmp}/docbridge-sftp-$UID. $SFTPTMP/env holds:
#
#   export DOCBRIDGE_TEST_SFTP_ENDPOINT=ssh://127.0.0.1:PORT
#   export DOCBRIDGE_TEST_SFTP_USERNAME=docbridge-sftp
#   export DOCBRIDGE_TEST_SFTP_KEY_FILE=$SFTPTMP/client/id_ed25519
#   export DOCBRIDGE_TEST_SFTP_KNOWN_HOSTS=$SFTPTMP/client/known_hosts   ([127.0.0.1]:PORT's key)
#   export DOCBRIDGE_TEST_SFTP_ROOT=/data          (the writable folder, as the client sees it)
#   export DOCBRIDGE_TEST_SFTP_DIR=<that folder on this machine>   (to seed or inspect it)
#
# sshd needs root (chroot, switching to the user). sshd refuses a chroot any of whose parent
# folders is writable by others, which /tmp is: when $SFTPTMP lies under such a folder, the
# chroot goes to /run/docbridge-sftp-$UID-<hash of $SFTPTMP> instead (removed by `stop` too).
# A client logs in with, for example:
#
#   sftp -i "$DOCBRIDGE_TEST_SFTP_KEY_FILE" -o UserKnownHostsFile="$DOCBRIDGE_TEST_SFTP_KNOWN_HOSTS" \
#        -o BatchMode=yes -P PORT docbridge-sftp@127.0.0.1
#
# The user has no shell inside the chroot: only the SFTP subsystem works, as on many hosting
# providers' SFTP-only accounts.
set -euo pipefail

NAME=sftp
SRVTMP="${SFTPTMP:-${TMPDIR:-/tmp}/docbridge-sftp-$(id -u)}"
# shellcheck source-path=SCRIPTDIR source=server-common.sh
source "$(dirname "$0")/server-common.sh"

SFTP_USER=docbridge-sftp
SSHD=/usr/sbin/sshd

# Whether sshd would accept $1 as a ChrootDirectory: every component owned by root and
# writable by nobody else.
chroot_safe() {
    local path="$1"
    while :; do
        if [[ -e "$path" ]]; then
            [[ "$(stat -c %u "$path")" == 0 ]] || return 1
            (("0$(stat -c %a "$path")" & 022)) && return 1
        fi
        [[ "$path" == / ]] && return 0
        path="$(dirname "$path")"
    done
}

chroot_dir() {
    if chroot_safe "$SRVTMP"; then
        echo "$SRVTMP/chroot"
    else
        echo "/run/docbridge-sftp-$(id -u)-$(echo -n "$SRVTMP" | md5sum | cut -c1-8)"
    fi
}

ensure_user() {
    if id -u "$SFTP_USER" >/dev/null 2>&1; then
        return
    fi
    log "creating the system user $SFTP_USER"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$SFTP_USER" ||
        id -u "$SFTP_USER" >/dev/null 2>&1
}

launch_sshd() {
    local port="$1"
    nohup "$SSHD" -D -e -f "$SRVTMP/sshd_config" -p "$port" \
        </dev/null >"$SRVTMP/sshd.log" 2>&1 &
    echo $! >"$SRVTMP/sshd.pid"
}

start() {
    if [[ "$(id -u)" != 0 ]]; then
        log "sshd needs root to chroot and to switch to $SFTP_USER"
        exit 1
    fi
    apt_ensure "$SSHD" openssh-server
    apt_ensure ssh openssh-client
    ensure_user
    # A locked account ('!' in /etc/shadow) may not log in even by key when PAM is off.
    usermod -p '*' "$SFTP_USER"
    if [[ -d "$SRVTMP" ]]; then
        log "a server from a previous start is in $SRVTMP; stopping it first"
        stop
    fi
    mkdir -p "$SRVTMP/client"
    # sshd reads authorized_keys as the user: they may pass through, not list or read the rest.
    chmod 711 "$SRVTMP"
    chmod 700 "$SRVTMP/client"
    # sshd's privilege separation folder; Debian's service creates it, a bare sshd does not.
    mkdir -p /run/sshd
    chmod 755 /run/sshd

    local chroot
    chroot="$(chroot_dir)"
    rm -rf "$chroot"
    mkdir -p "$chroot/data"
    chmod 755 "$chroot"
    chown "$SFTP_USER:" "$chroot/data"
    echo "$chroot" >"$SRVTMP/chroot-path"

    ssh-keygen -q -t ed25519 -N '' -C "docbridge test host" -f "$SRVTMP/host_ed25519"
    ssh-keygen -q -t ed25519 -N '' -C "docbridge test client" -f "$SRVTMP/client/id_ed25519"
    cp "$SRVTMP/client/id_ed25519.pub" "$SRVTMP/authorized_keys"
    chmod 644 "$SRVTMP/authorized_keys"

    # StrictModes off: the authorized_keys file lies in a folder the user does not own (under
    # /tmp on CI); every other setting is a hardened SFTP-only account's.
    cat >"$SRVTMP/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $SRVTMP/host_ed25519
PidFile none
AuthorizedKeysFile $SRVTMP/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers $SFTP_USER
AllowTcpForwarding no
X11Forwarding no
# The openssh crate (OpenDAL's sftp service) multiplexes sessions over one control master.
MaxSessions 32
MaxStartups 32:30:64
Subsystem sftp internal-sftp
Match User $SFTP_USER
    ChrootDirectory $chroot
EOF
    local port
    port="$(start_on_free_port sshd launch_sshd)"

    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$SRVTMP/host_ed25519.pub")" >"$SRVTMP/client/known_hosts"
    {
        echo "export DOCBRIDGE_TEST_SFTP_ENDPOINT=ssh://127.0.0.1:$port"
        echo "export DOCBRIDGE_TEST_SFTP_USERNAME=$SFTP_USER"
        echo "export DOCBRIDGE_TEST_SFTP_KEY_FILE=$SRVTMP/client/id_ed25519"
        echo "export DOCBRIDGE_TEST_SFTP_KNOWN_HOSTS=$SRVTMP/client/known_hosts"
        echo "export DOCBRIDGE_TEST_SFTP_ROOT=/data"
        echo "export DOCBRIDGE_TEST_SFTP_DIR=$chroot/data"
    } >"$SRVTMP/env"
    chmod 600 "$SRVTMP/env"

    # The check that matters: a non-interactive login with exactly these files works.
    if ! echo "ls /data" | sftp -q -b - -i "$SRVTMP/client/id_ed25519" \
        -o UserKnownHostsFile="$SRVTMP/client/known_hosts" -o StrictHostKeyChecking=yes \
        -o BatchMode=yes -o IdentitiesOnly=yes -F /dev/null -P "$port" "$SFTP_USER@127.0.0.1" >/dev/null 2>"$SRVTMP/check.log"; then
        log "sshd started on port $port but an SFTP login failed:"
        cat "$SRVTMP/check.log" >&2
        tail -n 20 "$SRVTMP/sshd.log" >&2
        exit 1
    fi
    log "SFTP is up at ssh://127.0.0.1:$port (user $SFTP_USER, root /data in $chroot); variables in $SRVTMP/env (stop it with: $0 stop)"
}

stop() {
    # The chroot may lie outside $SRVTMP (see chroot_dir): removed once sshd is gone.
    stop_pidfile sshd
    if [[ -f "$SRVTMP/chroot-path" ]]; then
        rm -rf "$(cat "$SRVTMP/chroot-path")"
    fi
    stop_and_remove
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *)
        echo "usage: $0 start|stop   (server directory: \$SFTPTMP, default $SRVTMP)" >&2
        exit 2
        ;;
esac
