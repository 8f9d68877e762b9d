#!/usr/bin/env bash
# Installs Segment's published Customer.io (Actions) destination for bench.mjs.
#
# `npm install @segment/action-destinations` pulls in every destination's SDKs (AWS, Google,
# ...), several hundred packages; the Customer.io destination needs five of them. So the
# package is fetched alone with `npm pack` and unpacked into node_modules, and only what the
# Customer.io code requires is installed.
set -euo pipefail
cd "$(dirname "$0")"
VERSION="${ACTION_DESTINATIONS_VERSION:-3.497.0}"
# fast-uri 3.1 refuses the schema ids actions-core gives ajv ("URI scheme is malformed" on
# every event); 3.0 is what the destination was released against.
npm install --no-audit --no-fund --no-save \
  @segment/actions-core@3.170.0 dayjs lodash ajv-formats liquidjs fast-uri@3.0.6
tarball="$(npm pack --silent "@segment/action-destinations@${VERSION}")"
rm -rf node_modules/@segment/action-destinations
mkdir -p node_modules/@segment/action-destinations
tar xzf "$tarball" -C node_modules/@segment/action-destinations --strip-components=1
rm -f "$tarball"
echo "installed @segment/action-destinations@${VERSION}"
