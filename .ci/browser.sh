#!/usr/bin/env bash
# Browser tests of the admin page and the OAuth2 pages (tests/browser/admin.spec.mjs): Debian's
# Chromium driven by playwright-core from npm, never a browser that playwright downloads itself.
# Starts the docbridge binary that cargo built on 127.0.0.1 with an admin token, runs the script,
# and leaves screenshots in target/browser-screenshots/. Run from anywhere; installs what is
# missing (apt-get for chromium and node, npm for playwright-core into target/browser-test/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/target/browser-test
SHOTS=$ROOT/target/browser-screenshots

apt_install() {
  # Only what is missing, without recommended extras (they triple chromium's footprint).
  export DEBIAN_FRONTEND=noninteractive
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Debian's chromium; on hosts without it (Ubuntu CI runners ship Chrome, and Ubuntu's chromium
# package is only a snap stub) an installed Chrome does as well.
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v google-chrome || command -v chromium-browser || true)}
missing=()
[ -n "$CHROMIUM" ] || missing+=(chromium fonts-dejavu-core)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "browser: installing ${missing[*]}"
  apt_install "${missing[@]}"
  CHROMIUM=${CHROMIUM:-$(command -v chromium)}
fi

mkdir -p "$WORK" "$SHOTS"
cp tests/browser/package.json "$WORK/package.json"
if [ ! -f "$WORK/node_modules/playwright-core/package.json" ] || ! cmp -s tests/browser/package.json "$WORK/.installed-package.json"; then
  (cd "$WORK" && npm install --no-audit --no-fund --loglevel=error)
  cp tests/browser/package.json "$WORK/.installed-package.json"
fi
# Node resolves imports from the script's folder upwards, so the script runs from beside its modules.
cp tests/browser/admin.spec.mjs "$WORK/admin.spec.mjs"

# The binary `cargo test` already built (a no-op build when it is up to date).
cargo build --quiet -p docbridge-server --bin docbridge
BIN=$ROOT/target/debug/docbridge

DATA=$WORK/data
rm -rf "$DATA" "$SHOTS"/*.png
TOKEN="browser-admin-token-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
LOG=$WORK/docbridge.log
OUT=$WORK/docbridge.out
# Port 0: the first start prints its Base API URL, which names the port it got.
DOCBRIDGE_ADMIN__TOKEN=$TOKEN DOCBRIDGE_DOCUMENTS__RESCAN_INTERVAL_SECS=0 \
  "$BIN" --data-dir "$DATA" serve --listen 127.0.0.1:0 >"$OUT" 2>"$LOG" &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true' EXIT

URL=""
for _ in $(seq 1 600); do
  URL=$(sed -n 's#.*Base API URL: *\(http://127\.0\.0\.1:[0-9]*\)/webhooks/default.*#\1#p' "$OUT" | head -n1)
  if [ -n "$URL" ] && curl -fsS "$URL/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "browser: docbridge exited early"; cat "$LOG"; exit 1
  fi
  sleep 0.1
done
[ -n "$URL" ] || { echo "browser: docbridge did not start"; cat "$LOG"; exit 1; }

status=0
DOCBRIDGE_URL=$URL ADMIN_TOKEN=$TOKEN SCREENSHOTS=$SHOTS CHROMIUM=$CHROMIUM \
  node "$WORK/admin.spec.mjs" || status=$?
if [ "$status" -ne 0 ]; then
  echo "browser: failed; docbridge's log:"; tail -n 50 "$LOG"
fi
exit "$status"
