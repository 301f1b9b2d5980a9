#!/usr/bin/env bash
# Sets up torchdog on Debian 12 (bookworm) as root: system packages from apt,
# npm dependencies, the native addon (cmake-js, via the package's install
# script) and the TypeScript build (via prepare). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  libtorch-dev libopenblas0-pthread   # LibTorch 1.13 (CPU) and a threaded BLAS
  libgloo-dev                         # gloo headers: distributed training (c10d over Gloo)
  libdnnl-dev                         # oneDNN headers (the oneDNN LibTorch links): the fast int8 network
  cmake g++ make ccache python3       # the native build (python3 for node-gyp)
  ca-certificates git
)
if [[ "${TORCHDOG_WITH_PYTHON_BASELINES:-0}" == 1 ]]; then
  APT_PACKAGES+=(python3-torch python3-torchvision)  # benchmarks and parity fixtures only
  # bench/serve_fastapi.py, the seed's service that bench/serve-compare.ts measures against
  APT_PACKAGES+=(python3-fastapi python3-uvicorn python3-multipart python3-pil)
fi
if [[ "${TORCHDOG_WITH_BROWSER:-0}" == 1 ]]; then
  APT_PACKAGES+=(chromium)  # the service page's browser test
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v node >/dev/null; then
  echo "setup: Node.js >= 20.17 is required (Debian 12's own nodejs is 18: install Node 20 or newer first)" >&2
  exit 1
fi
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=17)?0:1)' || {
  echo "setup: Node.js >= 20.17 is required, found $(node --version)" >&2
  exit 1
}

# onnxruntime-node (a devDependency, for the export tests) ships its CPU
# runtime; its install script would fetch CUDA libraries from outside the npm
# registry and fail offline. .npmrc says the same for a plain `npm ci`.
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"

# npm ci runs the install script (cmake-js builds build/Release/torchdog.node)
# and prepare (tsc builds dist/).
npm ci --no-audit --no-fund
