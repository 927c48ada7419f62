#!/usr/bin/env bash
# Installs the real SDKs the end-to-end tests drive, once, under target/e2e:
# a Python virtualenv with sentry-sdk, node_modules with @sentry/node and @sentry/cli, and
# aiosmtpd (a real SMTP server for the e-mail alert tests), Sentry's MCP server, and esbuild
# with @sentry/browser for the source-map tests.
# Idempotent: a marker file per part records what is installed.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${ERRATA_E2E_DIR:-$root/target/e2e}"
mkdir -p "$dir"

PY_SDK="sentry-sdk==2.75.0"
NODE_PKGS="@sentry/node@11.12.0 @sentry/cli@3.8.0"

python_part() {
  local marker="$dir/venv/.installed"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$PY_SDK brotli" ]; then return; fi
  rm -rf "$dir/venv"
  python3 -m venv "$dir/venv"
  "$dir/venv/bin/pip" install --quiet --disable-pip-version-check "$PY_SDK" brotli
  echo "$PY_SDK brotli" > "$marker"
}

node_part() {
  local marker="$dir/node/.installed"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$NODE_PKGS" ]; then return; fi
  rm -rf "$dir/node"
  mkdir -p "$dir/node"
  (cd "$dir/node" && echo '{"name":"errata-e2e","private":true}' > package.json \
     && npm install --silent --no-audit --no-fund $NODE_PKGS >/dev/null)
  echo "$NODE_PKGS" > "$marker"
}

SCHEMATHESIS="schemathesis==4.32.5"

# schemathesis goes into the same virtualenv, with its own marker, so the python part stays as it is.
schemathesis_part() {
  python_part
  local marker="$dir/venv/.schemathesis"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$SCHEMATHESIS" ]; then return; fi
  "$dir/venv/bin/pip" install --quiet --disable-pip-version-check "$SCHEMATHESIS"
  echo "$SCHEMATHESIS" > "$marker"
}

AIOSMTPD="aiosmtpd==1.4.6"

# A real SMTP server for the e-mail alert tests, in its own small virtualenv.
smtp_part() {
  local marker="$dir/smtp-venv/.installed"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$AIOSMTPD" ]; then return; fi
  rm -rf "$dir/smtp-venv"
  python3 -m venv "$dir/smtp-venv"
  "$dir/smtp-venv/bin/pip" install --quiet --disable-pip-version-check "$AIOSMTPD"
  echo "$AIOSMTPD" > "$marker"
}

PLAYWRIGHT="playwright-core@1.65.1"

# Headless Chromium for the browser tests: Debian's package (installed here when missing;
# a test tool's own browser download does not work offline) driven by playwright-core.
browser_part() {
  if [ ! -x /usr/bin/chromium ]; then
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  fi
  local marker="$dir/browser/.installed"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$PLAYWRIGHT" ]; then return; fi
  rm -rf "$dir/browser"
  mkdir -p "$dir/browser"
  (cd "$dir/browser" && echo '{"name":"errata-e2e-browser","private":true}' > package.json \
     && npm install --silent --no-audit --no-fund "$PLAYWRIGHT" >/dev/null)
  echo "$PLAYWRIGHT" > "$marker"
}

MCP_SERVER="@sentry/mcp-server@0.39.0"

# Sentry's MCP server (stdio), in its own folder so the SDK folder stays as it is. Its
# package asks for Node 22 but runs on the Node 20 the machine has (npm only warns).
mcp_part() {
  local marker="$dir/mcp/.installed"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$MCP_SERVER" ]; then return; fi
  rm -rf "$dir/mcp"
  mkdir -p "$dir/mcp"
  (cd "$dir/mcp" && echo '{"name":"errata-e2e-mcp","private":true}' > package.json \
     && npm install --silent --no-audit --no-fund "$MCP_SERVER" >/dev/null 2>&1)
  echo "$MCP_SERVER" > "$marker"
}

BUNDLER_PKGS="esbuild@0.28.2 @sentry/browser@11.12.0 @sentry/node@11.12.0"

# A bundler and the browser SDK for the source-map tests: the test app is bundled and
# minified by esbuild (with @sentry/browser or @sentry/node inside) and its maps uploaded.
bundler_part() {
  local marker="$dir/bundler/.installed"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$BUNDLER_PKGS" ]; then return; fi
  rm -rf "$dir/bundler"
  mkdir -p "$dir/bundler"
  (cd "$dir/bundler" && echo '{"name":"errata-e2e-bundler","private":true}' > package.json \
     && npm install --silent --no-audit --no-fund $BUNDLER_PKGS >/dev/null)
  echo "$BUNDLER_PKGS" > "$marker"
}

case "${1:-all}" in
  python) python_part ;;
  node) node_part ;;
  schemathesis) schemathesis_part ;;
  smtp) smtp_part ;;
  browser) browser_part ;;
  mcp) mcp_part ;;
  bundler) bundler_part ;;
  all) python_part; node_part; schemathesis_part; smtp_part; browser_part; mcp_part; bundler_part ;;
  *) echo "usage: $0 [python|node|schemathesis|smtp|browser|mcp|bundler|all]" >&2; exit 2 ;;
esac
