#!/usr/bin/env bash
# The Debian package, for real (issue #15): `cargo xtask dist --dev` builds it from the debug
# build the test suite has already made (a release build would compile everything again; the
# package's contents and scripts are the same), then this installs it with dpkg, checks the
# systemd unit with `systemd-analyze verify` (offline: systemd need not be PID 1), runs the
# *installed* binary with the *installed* configuration as the `docbridge` user (a short `serve`
# polled on /healthz and /metrics, `docbridge doctor` against it, stopped by its PID), purges the
# package and checks that nothing is left: no file it installed, no data directory, no user.
#
# Needs root (dpkg). Refuses to run where a docbridge package or user already exists, so that it
# never touches a real installation. Prints its cost in seconds at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
export CARGO_PROFILE_DEV_DEBUG=0

fail() { echo "package test: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root (dpkg -i)"
if dpkg-query -W -f='${Status}' docbridge 2>/dev/null | grep -q installed || getent passwd docbridge >/dev/null; then
    fail "a docbridge package or user already exists on this machine: not touching it"
fi

# Tools: systemd-analyze (package systemd), objdump (binutils, for the tarball's glibc note), curl.
missing=()
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v objdump >/dev/null || missing+=(binutils)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
if ! cargo deb --version >/dev/null 2>&1; then
    cargo install --locked cargo-deb
fi

cargo xtask dist --dev 2>&1 | tee target/dist-dev.log >&2
deb=$(grep -E '\.deb$' target/dist-dev.log | tail -n 1)
rm -f target/dist-dev.log
[ -f "$deb" ] || fail "cargo xtask dist --dev made no .deb"

pid=""
log=""
# On any failure: stop what was started, remove the package, and the server's log (already
# printed when it matters).
purge() {
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; fi
    dpkg --purge docbridge >/dev/null 2>&1 || true
    if [ -n "$log" ]; then rm -f "$log"; fi
}
trap purge EXIT

dpkg -i "$deb"

# What the package promised.
[ "$(stat -c '%a %U %G' /var/lib/docbridge)" = "700 docbridge docbridge" ] || fail "/var/lib/docbridge is $(stat -c '%a %U %G' /var/lib/docbridge)"
[ "$(stat -c '%a %U %G' /etc/docbridge/docbridge.toml)" = "640 root docbridge" ] || fail "docbridge.toml is $(stat -c '%a %U %G' /etc/docbridge/docbridge.toml)"
dpkg-query -W -f='${Conffiles}\n' docbridge | grep -q '/etc/docbridge/docbridge.toml' || fail "docbridge.toml is not a conffile"
[ "$(getent passwd docbridge | cut -d: -f7)" = /usr/sbin/nologin ] || fail "the docbridge user can log in"
for f in /usr/bin/docbridge /usr/share/man/man1/docbridge.1.gz /usr/share/man/man1/docbridge-serve.1.gz \
    /usr/share/bash-completion/completions/docbridge /usr/share/zsh/vendor-completions/_docbridge \
    /usr/share/fish/vendor_completions.d/docbridge.fish /usr/share/doc/docbridge/THIRD-PARTY-LICENSES.md; do
    [ -s "$f" ] || fail "$f is missing"
done
unit=$(dpkg -L docbridge | grep -E '/systemd/system/docbridge\.service$') || fail "no systemd unit"
for setting in Type=notify ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes \
    ReadWritePaths=/var/lib/docbridge AmbientCapabilities=CAP_NET_BIND_SERVICE Restart=on-failure \
    Environment=MALLOC_ARENA_MAX=2 \
    'Environment=DOCBRIDGE_CONFIG=/etc/docbridge/docbridge.toml DOCBRIDGE_DATA_DIR=/var/lib/docbridge'; do
    grep -qxF "$setting" "$unit" || fail "the unit lacks $setting"
done
# verify only warns about an unknown or misspelt key ("Unknown key ..., ignoring") and exits 0:
# any output at all fails the test. It also runs `man` on the unit's Documentation= pages, which
# the package installs.
verified=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify $unit: $verified"
[ -z "$verified" ] || fail "systemd-analyze verify $unit has something to say: $verified"

# The installed binary, as the service runs it (user, configuration, data directory), on free
# loopback ports so as not to meet anything else on this machine.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
metrics_port=$(free_port)
# setpriv, not runuser or su: it execs, so $! is docbridge's own PID and SIGTERM reaches docbridge
# (runuser forks, and on SIGTERM kills its child and exits with a failure of its own).
as_service=(setpriv --reuid=docbridge --regid=docbridge --init-groups -- env -i PATH=/usr/bin:/bin DOCBRIDGE_CONFIG=/etc/docbridge/docbridge.toml
    DOCBRIDGE_DATA_DIR=/var/lib/docbridge DOCBRIDGE_HTTP__LISTEN="127.0.0.1:$port"
    DOCBRIDGE_METRICS__LISTEN="127.0.0.1:$metrics_port" DOCBRIDGE_DOCUMENTS__RESCAN_INTERVAL_SECS=0)
log=$(mktemp)
"${as_service[@]}" /usr/bin/docbridge serve >"$log" 2>&1 &
pid=$!
healthy=""
for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then healthy=yes; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$healthy" ] || { cat "$log" >&2; fail "the installed docbridge did not answer /healthz"; }
curl -fsS "http://127.0.0.1:$metrics_port/metrics" | grep -q docbridge_http_requests_total || fail "no /metrics on the metrics listener"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")" = 404 ] || fail "/metrics is on the public listener"
grep -q "ApiKey:" "$log" || fail "the first start printed no credentials"
# doctor, as the guide runs it, while the service serves: everything but public_url must pass
# (public_url is unset, so docbridge offers Workfront its loopback http address: doctor must say
# so and exit non-zero). The nonce round trip through that address proves `reach` for real.
set +e
doctor=$("${as_service[@]}" /usr/bin/docbridge doctor --json --timeout 5)
doctor_status=$?
set -e
[ "$doctor_status" -eq 1 ] || { echo "$doctor" >&2; fail "doctor exited with $doctor_status, not 1 (public_url fails)"; }
echo "$doctor" | python3 -c '
import json, sys
checks = json.load(sys.stdin)["checks"]
names = {c["check"] for c in checks}
wanted = {"configuration", "data directory", "database", "storage", "public_url", "dns", "reach", "clock", "listen"}
missing = wanted - names
bad = [c for c in checks if (c["status"] != "ok") != (c["check"] == "public_url")]
if missing or bad:
    sys.exit(f"missing checks: {sorted(missing)}; unexpected results: {bad}")
' || { echo "$doctor" >&2; fail "doctor's report of the installed service is not as expected"; }
kill -TERM "$pid"
wait "$pid" || { cat "$log" >&2; fail "docbridge did not stop cleanly on SIGTERM"; }
pid=""
[ "$(stat -c '%U' /var/lib/docbridge/docbridge.db)" = docbridge ] || fail "the database is not the service user's"
rm -f "$log"

files=$(dpkg -L docbridge | grep -vE '^/(\.|usr|usr/bin|usr/share|usr/share/doc|usr/share/man|usr/share/man/man1|etc|lib|lib/systemd|lib/systemd/system|usr/lib|usr/lib/systemd|usr/lib/systemd/system|usr/share/bash-completion|usr/share/bash-completion/completions|usr/share/zsh|usr/share/zsh/vendor-completions|usr/share/fish|usr/share/fish/vendor_completions.d)$')
dpkg --purge docbridge
trap - EXIT
for f in $files /var/lib/docbridge /etc/docbridge; do
    [ ! -e "$f" ] || fail "$f is left after dpkg --purge"
done
! getent passwd docbridge >/dev/null || fail "the docbridge user is left after dpkg --purge"
! getent group docbridge >/dev/null || fail "the docbridge group is left after dpkg --purge"
echo "package test passed in $(( $(date +%s) - started )) s ($deb)"
