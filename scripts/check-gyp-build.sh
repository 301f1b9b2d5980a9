#!/usr/bin/env bash
# Checks that binding.gyp builds a working addon with node-gyp, without
# touching ./build (the cmake-js output): copies binding.gyp, native/,
# package.json and node-addon-api into a temporary directory, runs
# `node-gyp rebuild` there, loads the .node it produced, builds a ResNet18 and
# runs one forward pass.
#
# Usage: scripts/check-gyp-build.sh
# Environment:
#   TORCHDOG_GYP_JOBS=N     parallel compile jobs (default 2)
#   TORCHDOG_GYP_KEEP=1     keep the temporary directory (always kept on failure)
#   CXX                     compiler (default g++; prefixed with ccache when present)
#   npm_config_nodedir / NODEDIR
#                           Node headers to build against; by default npm's
#                           `nodedir` setting, else the headers installed next
#                           to this node binary. node-gyp is never left to
#                           download headers (this must work offline).
#   LIBTORCH, LIBTORCH_INCLUDE, LIBTORCH_LIB, LIBTORCH_CXX11_ABI
#                           where LibTorch is; see binding.gyp.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="${TORCHDOG_GYP_JOBS:-2}"

fail() {
  echo "check-gyp-build: FAILED: $*" >&2
  exit 1
}

# --- prerequisites -----------------------------------------------------------
for f in binding.gyp package.json native/addon.cc native/engine.cc native/resnet.cc; do
  [[ -e "$ROOT/$f" ]] || fail "missing $ROOT/$f"
done
NODE_GYP="$ROOT/node_modules/node-gyp/bin/node-gyp.js"
[[ -f "$NODE_GYP" ]] || fail "node-gyp is not installed ($NODE_GYP); run \`npm install\` (it is a devDependency)"
ADDON_API="$ROOT/node_modules/node-addon-api"
[[ -f "$ADDON_API/napi.h" ]] || fail "node-addon-api is not installed ($ADDON_API); run \`npm install\`"
command -v node >/dev/null || fail "node is not on PATH"

# Node headers: never let node-gyp go to the network for them.
NODE_VERSION="$(node -p 'process.versions.node')"
nodedir="${npm_config_nodedir:-${NODEDIR:-}}"
if [[ -z "$nodedir" ]] && command -v npm >/dev/null; then
  nodedir="$(npm config get nodedir 2>/dev/null || true)"
  [[ "$nodedir" == "undefined" || "$nodedir" == "null" ]] && nodedir=""
fi
if [[ -z "$nodedir" ]]; then
  prefix="$(node -p 'require("path").resolve(process.execPath, "..", "..")')"
  [[ -f "$prefix/include/node/node_version.h" ]] && nodedir="$prefix"
fi
NODEGYP_ARGS=(rebuild -j "$JOBS")
if [[ -n "$nodedir" ]]; then
  [[ -f "$nodedir/include/node/node_api.h" && -f "$nodedir/include/node/common.gypi" ]] ||
    fail "nodedir '$nodedir' has no include/node/{node_api.h,common.gypi}"
  NODEGYP_ARGS+=(--nodedir="$nodedir")
else
  devdir="${npm_config_devdir:-${XDG_CACHE_HOME:-$HOME/.cache}/node-gyp}/$NODE_VERSION"
  [[ -f "$devdir/include/node/node_api.h" ]] ||
    fail "no Node headers for $NODE_VERSION (no nodedir, nothing in $devdir) and node-gyp would have to download them"
fi

if [[ -z "${CXX:-}" ]]; then CXX=g++; fi
if command -v ccache >/dev/null && [[ "$CXX" != *ccache* ]]; then CXX="ccache $CXX"; fi
export CXX
# OpenBLAS reads this when LibTorch loads it (see src/native.ts).
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

# --- build in a scratch copy -------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/torchdog-gyp.XXXXXX")"
ok=0
cleanup() {
  if [[ "$ok" == 1 && "${TORCHDOG_GYP_KEEP:-0}" != 1 ]]; then
    rm -rf -- "$WORK"
  else
    echo "check-gyp-build: kept $WORK" >&2
  fi
}
trap cleanup EXIT

cp "$ROOT/binding.gyp" "$ROOT/package.json" "$WORK/"
cp -R "$ROOT/native" "$WORK/native"
# A copy rather than a link, so the include path is relative to $WORK and the
# compile commands are the same whatever $WORK is (ccache hits across runs).
mkdir -p "$WORK/node_modules"
cp -R "$ADDON_API" "$WORK/node_modules/node-addon-api"

echo "check-gyp-build: node-gyp $(node "$NODE_GYP" --version) on Node $NODE_VERSION, CXX='$CXX', -j $JOBS, nodedir=${nodedir:-<node-gyp cache>}, in $WORK"
start=$SECONDS
if ! (cd "$WORK" && node "$NODE_GYP" "${NODEGYP_ARGS[@]}") >"$WORK/node-gyp.log" 2>&1; then
  echo "----- last 60 lines of $WORK/node-gyp.log -----" >&2
  tail -n 60 "$WORK/node-gyp.log" >&2
  fail "node-gyp rebuild failed after $((SECONDS - start)) s (full log: $WORK/node-gyp.log)"
fi
ADDON="$WORK/build/Release/torchdog.node"
[[ -f "$ADDON" ]] || fail "node-gyp succeeded but $ADDON does not exist"
echo "check-gyp-build: built $ADDON in $((SECONDS - start)) s"

# --- load it and run a forward pass ------------------------------------------
start=$SECONDS
if ! (cd "$WORK" && timeout 300 node --input-type=module - "$ADDON") <<'EOF'; then
import { createRequire } from 'node:module';

const path = process.argv[2];
const fail = (message) => {
  console.error(`check-gyp-build: ${message}`);
  process.exit(1);
};

let addon;
try {
  addon = createRequire(path)(path);
} catch (e) {
  fail(`loading ${path} failed: ${e && e.message}`);
}
if (typeof addon.Model !== 'function') fail(`${path} exports no Model constructor (exports: ${Object.keys(addon).join(', ')})`);

const model = new addon.Model({ arch: 'resnet18', numClasses: 2, device: 'cpu', seed: 0, threads: 1 });
await model.ready();
const size = 64;
const images = { data: new Uint8Array(size * size * 3), count: 1, height: size, width: size };
const result = await model.forward(images, { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
const probs = Array.from(result.probabilities ?? []);
const logits = Array.from(result.logits ?? []);
if (result.count !== 1 || result.classes !== 2) fail(`forward: expected count 1 and classes 2, got ${result.count} and ${result.classes}`);
if (probs.length !== 2 || logits.length !== 2) fail(`forward: expected 2 probabilities and 2 logits, got ${probs.length} and ${logits.length}`);
if (![...probs, ...logits].every(Number.isFinite)) fail(`forward: non-finite output: logits ${logits}, probabilities ${probs}`);
const sum = probs[0] + probs[1];
if (Math.abs(sum - 1) > 1e-5) fail(`forward: probabilities ${probs} sum to ${sum}, not 1`);
const params = model.parameterCount;
await model.dispose();
console.log(`check-gyp-build: forward OK (resnet18, ${params} parameters, probabilities ${probs.map((p) => p.toFixed(6)).join(' + ')} = ${sum.toFixed(6)})`);
EOF
  fail "the addon built by node-gyp did not work (see above)"
fi
echo "check-gyp-build: OK (load + forward in $((SECONDS - start)) s)"
ok=1
