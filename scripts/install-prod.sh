#!/bin/sh
# The production install, in one place: the Docker image's build stage (deploy/Dockerfile) runs it,
# and so does CI (test/deploy/production-install.test.ts, part of `npm test`).
#
#   scripts/install-prod.sh DEST
#
# Run it from a checkout where `npm ci` has been run (the dashboard build needs the dev
# dependencies). It
#   1. packs the checkout with `npm pack`: the `prepack` script builds the dashboard when its
#      sources changed, and package.json's "files" list decides what ships (bin/, src/,
#      dashboard/dist/, README.md, CHANGELOG.md, LICENSE, package.json);
#   2. unpacks that into DEST (a new or empty directory) with package-lock.json beside it;
#   3. writes DEST/REVISION, the commit `/healthz` and `keyward --version` report: $REVISION when
#      set (a Docker build has no .git), else the checkout's HEAD;
#   4. runs `npm ci --omit=dev` in DEST: no Vite, React, TypeScript or test tools.
# DEST then starts with `npm run start:prod` or `node src/main.ts serve --require-dashboard`.
set -eu

if [ "$#" -ne 1 ]; then
  echo "usage: scripts/install-prod.sh DEST" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$1
if [ -e "$dest" ] && [ -n "$(ls -A "$dest")" ]; then
  echo "install-prod: $dest is not empty; install into a new or empty directory" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$root"
npm pack --pack-destination "$work" --loglevel=warn >/dev/null
set -- "$work"/*.tgz
mkdir -p "$dest"
tar -xzf "$1" -C "$dest" --strip-components=1
cp package-lock.json "$dest/package-lock.json"

revision=${REVISION:-}
if [ -z "$revision" ]; then
  revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || true)
fi
if [ -n "$revision" ]; then
  printf '%s\n' "$revision" >"$dest/REVISION"
fi

if [ ! -f "$dest/dashboard/dist/index.html" ]; then
  echo "install-prod: the package has no dashboard/dist/index.html; run npm run build:dashboard and look at its errors" >&2
  exit 1
fi

cd "$dest"
npm ci --omit=dev --no-audit --no-fund --loglevel=warn
echo "installed keyward $(node -p 'require("./package.json").version') ${revision:+($revision) }in $dest"
