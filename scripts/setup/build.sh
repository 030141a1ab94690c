#!/bin/sh
# Compiles server/ and db/ to JavaScript, with source maps, into OUTDIR (dist/ by default):
# what `make build`, `make run` and `make install` run with plain node. The layout mirrors the
# sources (OUTDIR/server/..., OUTDIR/db/...); the status page's views are read at run time,
# not compiled, so they are copied beside the compiled renderer.
#   scripts/setup/build.sh [OUTDIR]
# OUTDIR/.built is written last and carries the time the build started: bin/homeport runs
# dist/ only while no source is newer than it, so an edit made during a build counts as unbuilt.
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
out=${1:-$root/dist}
started=$(mktemp)
trap 'rm -f "$started"' EXIT
rm -rf "$out"
"$root/node_modules/.bin/tsc" -p "$root/tsconfig.build.json" --outDir "$out"
cp -R "$root/server/monitoring/views" "$out/server/monitoring/views"
chmod 0644 "$started"
mv "$started" "$out/.built"
