#!/usr/bin/env bash
# Validates docs/openapi.json against the OpenAPI 3.1 specification with openapi-spec-validator
# from PyPI, installed into a virtual environment of its own under target/. The Rust test
# crates/docbridge-server/tests/it/openapi.rs checks that the file is what the code generates.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=target/openapi-venv
VERSION=0.9.0
if ! "$VENV/bin/openapi-spec-validator" --help >/dev/null 2>&1 || ! "$VENV/bin/pip" show openapi-spec-validator 2>/dev/null | grep -qx "Version: $VERSION"; then
  rm -rf "$VENV"
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    # Debian's python3 makes virtual environments only with python3-venv installed.
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    rm -rf "$VENV"
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "openapi-spec-validator==$VERSION"
fi
if "$VENV/bin/openapi-spec-validator" docs/openapi.json; then
  echo "openapi: 1 passed, 0 failed"
else
  echo "openapi: 0 passed, 1 failed"
  exit 1
fi
