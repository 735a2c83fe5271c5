#!/usr/bin/env bash
# Two throwaway WebDAV servers with different quirks for the WebDAV storage tests (issue #16):
# `start` and `stop`.
#
#   .ci/webdav.sh start   1. wsgidav (PyPI `wsgidav` + `cheroot`, in a virtualenv under
#                            $CI_CACHE), a `simple_dc` user with a random password, the share
#                            mounted at /dav (a path prefix, as Nextcloud's
#                            /remote.php/dav/files/USER is);
#                         2. Apache httpd's mod_dav + mod_dav_fs (Debian's `apache2`, installed if
#                            missing), Basic authentication against an htpasswd file, the share at
#                            /webdav. Unlike wsgidav it writes a PUT to a hidden temporary file
#                            and renames it (a cut upload leaves nothing), refuses a PROPFIND
#                            with `Depth: infinity`, gives weak ETags and lower-case escapes in
#                            hrefs (docs/storage-servers.md has the full list).
#                         Both listen on 127.0.0.1 at free ports; writes $WEBDAVTMP/env.
#   .ci/webdav.sh stop    stops both and removes $WEBDAVTMP.
#
# $WEBDAVTMP defaults to ${TMPDIR:-/tmp}/docbridge-webdav-$UID. $WEBDAVTMP/env holds:
#
#   export DOCBRIDGE_TEST_WEBDAV_ENDPOINT=http://127.0.0.1:PORT/dav        (wsgidav)
#   export DOCBRIDGE_TEST_WEBDAV_USERNAME=docbridge
#   export DOCBRIDGE_TEST_WEBDAV_PASSWORD=<random>
#   export DOCBRIDGE_TEST_WEBDAV2_ENDPOINT=http://127.0.0.1:PORT/webdav    (Apache mod_dav)
#   export DOCBRIDGE_TEST_WEBDAV2_USERNAME=docbridge
#   export DOCBRIDGE_TEST_WEBDAV2_PASSWORD=<random>
#
# The servers' folders are $WEBDAVTMP/wsgidav-data and $WEBDAVTMP/apache-data.
set -euo pipefail

NAME=webdav
SRVTMP="${WEBDAVTMP:-${TMPDIR:-/tmp}/docbridge-webdav-$(id -u)}"
# shellcheck source-path=SCRIPTDIR source=server-common.sh
source "$(dirname "$0")/server-common.sh"

USERNAME=docbridge
APACHE=/usr/sbin/apache2
APACHE_MODULES=/usr/lib/apache2/modules

launch_wsgidav() {
    local port="$1"
    sed "s/@PORT@/$port/" "$SRVTMP/wsgidav.yaml.in" >"$SRVTMP/wsgidav.yaml"
    nohup "$WSGIDAV_VENV/bin/wsgidav" --config "$SRVTMP/wsgidav.yaml" \
        </dev/null >"$SRVTMP/wsgidav.log" 2>&1 &
    echo $! >"$SRVTMP/wsgidav.pid"
}

launch_apache() {
    local port="$1"
    sed "s/@PORT@/$port/" "$SRVTMP/apache.conf.in" >"$SRVTMP/apache.conf"
    # -DFOREGROUND: the parent stays ours, so its PID is the one to stop.
    nohup "$APACHE" -f "$SRVTMP/apache.conf" -DFOREGROUND \
        </dev/null >"$SRVTMP/apache.log" 2>&1 &
    echo $! >"$SRVTMP/apache.pid"
}

write_wsgidav_config() {
    local password="$1"
    mkdir -p "$SRVTMP/wsgidav-data"
    # Basic by default (what Nextcloud and OpenDAL use), locks and dead properties in memory.
    cat >"$SRVTMP/wsgidav.yaml.in" <<EOF
host: 127.0.0.1
port: @PORT@
server: cheroot
verbose: 1
logging:
  enable_loggers: []
provider_mapping:
  "/dav": "$SRVTMP/wsgidav-data"
http_authenticator:
  accept_basic: true
  accept_digest: false
  default_to_digest: false
simple_dc:
  user_mapping:
    "*":
      "$USERNAME":
        password: "$password"
lock_storage: true
property_manager: true
dir_browser:
  enable: false
EOF
}

write_apache_config() {
    local password="$1"
    local user_lines=""
    mkdir -p "$SRVTMP/apache-data" "$SRVTMP/apache-run" "$SRVTMP/apache-lock"
    htpasswd -b -c -B "$SRVTMP/htpasswd" "$USERNAME" "$password" >/dev/null 2>"$SRVTMP/htpasswd.log" || {
        cat "$SRVTMP/htpasswd.log" >&2
        exit 1
    }
    if [[ "$(id -u)" == 0 ]]; then
        # Apache's children drop to www-data: they write the share and the lock database and
        # read the password file; the folder above them only lets them through.
        user_lines=$'User www-data\nGroup www-data'
        chown www-data: "$SRVTMP/apache-data" "$SRVTMP/apache-lock"
        chown root:www-data "$SRVTMP/htpasswd"
        chmod 640 "$SRVTMP/htpasswd"
        chmod 711 "$SRVTMP"
    fi
    cat >"$SRVTMP/apache.conf.in" <<EOF
ServerRoot "$SRVTMP"
ServerName 127.0.0.1
Listen 127.0.0.1:@PORT@
$user_lines
PidFile "$SRVTMP/apache-run/httpd.pid"
DefaultRuntimeDir "$SRVTMP/apache-run"
Mutex file:$SRVTMP/apache-run default
ErrorLog "$SRVTMP/apache-error.log"
LogLevel warn
LoadModule mpm_event_module $APACHE_MODULES/mod_mpm_event.so
LoadModule authn_core_module $APACHE_MODULES/mod_authn_core.so
LoadModule authn_file_module $APACHE_MODULES/mod_authn_file.so
LoadModule authz_core_module $APACHE_MODULES/mod_authz_core.so
LoadModule authz_user_module $APACHE_MODULES/mod_authz_user.so
LoadModule auth_basic_module $APACHE_MODULES/mod_auth_basic.so
LoadModule alias_module $APACHE_MODULES/mod_alias.so
LoadModule mime_module $APACHE_MODULES/mod_mime.so
LoadModule dav_module $APACHE_MODULES/mod_dav.so
LoadModule dav_fs_module $APACHE_MODULES/mod_dav_fs.so
TypesConfig /etc/mime.types
# Bounded: a test server on a shared machine.
StartServers 1
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50
MinSpareThreads 5
MaxSpareThreads 50
DavLockDB "$SRVTMP/apache-lock/DavLock"
DocumentRoot "$SRVTMP/apache-data"
Alias /webdav "$SRVTMP/apache-data"
<Directory />
    Require all denied
    AllowOverride None
</Directory>
<Directory "$SRVTMP/apache-data">
    Dav On
    AuthType Basic
    AuthName "docbridge test"
    AuthUserFile "$SRVTMP/htpasswd"
    Require valid-user
    Options None
    AllowOverride None
</Directory>
EOF
}

start() {
    WSGIDAV_VENV="$(pip_venv venv-wsgidav wsgidav cheroot)"
    apt_ensure "$APACHE" apache2
    apt_ensure htpasswd apache2-utils
    if [[ -d "$SRVTMP" ]]; then
        log "servers from a previous start are in $SRVTMP; stopping them first"
        stop
    fi
    mkdir -p "$SRVTMP"
    chmod 700 "$SRVTMP"
    local password1 password2
    password1="$(random_hex 12)"
    password2="$(random_hex 12)"
    write_wsgidav_config "$password1"
    write_apache_config "$password2"

    local port1 port2
    port1="$(start_on_free_port wsgidav launch_wsgidav)"
    port2="$(start_on_free_port apache launch_apache)"
    local endpoint1="http://127.0.0.1:$port1/dav" endpoint2="http://127.0.0.1:$port2/webdav"
    {
        echo "export DOCBRIDGE_TEST_WEBDAV_ENDPOINT=$endpoint1"
        echo "export DOCBRIDGE_TEST_WEBDAV_USERNAME=$USERNAME"
        echo "export DOCBRIDGE_TEST_WEBDAV_PASSWORD=$password1"
        echo "export DOCBRIDGE_TEST_WEBDAV2_ENDPOINT=$endpoint2"
        echo "export DOCBRIDGE_TEST_WEBDAV2_USERNAME=$USERNAME"
        echo "export DOCBRIDGE_TEST_WEBDAV2_PASSWORD=$password2"
    } >"$SRVTMP/env"
    chmod 600 "$SRVTMP/env"
    log "wsgidav is up at $endpoint1, Apache mod_dav at $endpoint2; variables in $SRVTMP/env (stop them with: $0 stop)"
}

stop() {
    stop_and_remove wsgidav apache
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *)
        echo "usage: $0 start|stop   (server directory: \$WEBDAVTMP, default $SRVTMP)" >&2
        exit 2
        ;;
esac
