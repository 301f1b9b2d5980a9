#!/usr/bin/env bash
# The GPU check: builds torchdog's native engine against the CUDA LibTorch
# inside the machine's PyTorch install (no Node needed), checks CPU and CUDA
# agree, and measures training (AMP off/on) and inference throughput.
#
#   scripts/gpu-check.sh OUT_DIR
#
# Needs: python3 with a CUDA torch, cmake, ninja (or make), a C++17 compiler,
# an NVIDIA GPU. Prints a short table last; full numbers go to OUT_DIR.
#
# With Node (on the PATH, or carried as .cache/gpu-e2e/node.xz, made by
# `xz -c $(command -v node) > .cache/gpu-e2e/node.xz`) plus dist/ and
# node_modules/node-{addon-api,api-headers}, it also builds the addon against
# the CUDA LibTorch and runs scripts/gpu-e2e.mjs: training with AMP and
# CPU/CUDA agreement through the Node API.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/gpu-check.sh OUT_DIR}
mkdir -p "$out"
python=${PYTHON:-python3}

prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
"$python" - > "$out/torch.txt" <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "cxx11_abi", torch._C._GLIBCXX_USE_CXX11_ABI)
print("gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
PY
cat "$out/torch.txt"
command -v nvidia-smi >/dev/null && nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
build=${TORCHDOG_GPU_BUILD_DIR:-build-gpu}
started=$(date +%s)
# TorchConfig.cmake carries the matching _GLIBCXX_USE_CXX11_ABI on its target.
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DTORCHDOG_BUILD_BENCH=ON \
  -DCMAKE_PREFIX_PATH="$prefix" > "$out/cmake-configure.log" 2>&1 || { tail -40 "$out/cmake-configure.log"; exit 1; }
cmake --build "$build" --target torchdog_bench -j "$(nproc)" > "$out/cmake-build.log" 2>&1 || { tail -60 "$out/cmake-build.log"; exit 1; }
echo "built torchdog_bench in $(( $(date +%s) - started )) s"

seconds=${TORCHDOG_GPU_SECONDS:-8}
"$build/torchdog_bench" --device cuda --size 128 --train-batch "${TORCHDOG_GPU_TRAIN_BATCH:-256}" \
  --infer-batches 1,256 --seconds "$seconds" --check > "$out/bench-cuda.json" 2> "$out/bench-cuda.log" \
  || { cat "$out/bench-cuda.log"; exit 1; }
cat "$out/bench-cuda.log"

e2e="skipped (no Node, dist/ or node_modules/node-addon-api here)"
node_bin=$(command -v node || true)
if [[ -z "$node_bin" && -f .cache/gpu-e2e/node.xz ]]; then
  mkdir -p /tmp/torchdog-node-bin
  "$python" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
    .cache/gpu-e2e/node.xz /tmp/torchdog-node-bin/node
  chmod +x /tmp/torchdog-node-bin/node
  node_bin=/tmp/torchdog-node-bin/node
fi
if [[ -n "$node_bin" && -f dist/native.js && -d node_modules/node-addon-api && -d node_modules/node-api-headers ]]; then
  export PATH="$(dirname "$node_bin"):$PATH"
  cmake -S . -B "$build-node" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_JS_VERSION=gpu-check -DCMAKE_JS_INC="$PWD/node_modules/node-api-headers/include" \
    > "$out/cmake-node-configure.log" 2>&1 || { tail -40 "$out/cmake-node-configure.log"; exit 1; }
  cmake --build "$build-node" --target torchdog -j "$(nproc)" > "$out/cmake-node-build.log" 2>&1 \
    || { tail -60 "$out/cmake-node-build.log"; exit 1; }
  addon=$(find "$build-node" -name torchdog.node | head -1)
  if TORCHDOG_ADDON="$PWD/$addon" node scripts/gpu-e2e.mjs > "$out/e2e.json" 2> "$out/e2e.log"; then e2e="ok"; else e2e="FAILED"; fi
  cat "$out/e2e.json" "$out/e2e.log"
fi

"$python" - "$out/bench-cuda.json" "$e2e" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t, i = r["train"], r["infer"]
print()
print(f"torchdog on {r['device']}, {r['size']} px")
print(f"  train  batch {t['batch']:>4}  fp32 {t['fp32']['img_per_s']:>10.0f} img/s   amp(bf16) {t['amp']['img_per_s']:>10.0f} img/s")
for key in sorted(i, key=lambda k: (int(k.split('_')[0]), k)):
    v = i[key]
    print(f"  infer  batch {key:>10}  {v['img_per_s']:>10.0f} img/s   {v['ms_per_batch']:8.3f} ms/batch")
print(f"  Node end-to-end (addon on CUDA, AMP training, CPU agreement): {sys.argv[2]}")
d = r.get("cpu_vs_device_max_abs_prob_diff")
if d is not None:
    tol = 1e-4  # float32 everywhere (TF32 off for the comparison)
    print(f"  CPU vs CUDA probabilities, fp32: max |diff| {d:.2e} (tolerance {tol:g}: {'ok' if d <= tol else 'FAIL'})")
    print(f"  CPU vs CUDA probabilities with TF32 (LibTorch's default for convolutions): max |diff| {r['cpu_vs_device_tf32_max_abs_prob_diff']:.2e}")
    sys.exit(0 if d <= tol and sys.argv[2] != "FAILED" else 1)
PY
