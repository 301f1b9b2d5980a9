# torchdog's HTTP service (`torchdog serve`) on Debian bookworm.
#
#   docker build -t torchdog .
#   docker run -p 8080:8080 -e TORCHDOG_MODEL=gs://BUCKET/runs/x/model.safetensors torchdog
#   docker run -p 8080:8080 -v "$PWD/runs:/app/runs:ro" torchdog      # runs/latest/model.safetensors
#
# The build stage does what scripts/setup.sh does (LibTorch and the toolchain
# from apt, then `npm ci`, whose install script builds the addon and whose
# prepare script builds dist/); the run stage keeps only LibTorch's runtime
# libraries, production node_modules, dist/, bin/ and the addon.

FROM node:20-bookworm-slim AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      libtorch-dev libopenblas0-pthread libgloo-dev libdnnl-dev \
      cmake g++ make ccache python3 \
      ca-certificates git \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY CMakeLists.txt binding.gyp tsconfig.json ./
COPY native/ native/
COPY src/ src/
COPY bin/ bin/
COPY scripts/ scripts/
# onnxruntime-node (a devDependency, for the export tests) would download CUDA
# libraries at install; the image never runs it.
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund \
 && test -f build/Release/torchdog.node && test -f dist/cli/main.js

FROM node:20-bookworm-slim
ENV DEBIAN_FRONTEND=noninteractive
# libtorch1.13 is what libtorch-dev links against (it brings its own deps);
# the pthread OpenBLAS replaces the reference BLAS, as in the build.
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends libtorch1.13 libopenblas0-pthread ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin torchdog \
 && install -d -o torchdog -g torchdog /var/lib/torchdog
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
COPY --from=build /app/bin/ bin/
COPY --from=build /app/build/Release/torchdog.node build/Release/torchdog.node
ENV NODE_ENV=production \
    PORT=8080 \
    TORCHDOG_PREDICTIONS=/var/lib/torchdog/predictions.jsonl
USER torchdog
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: node is PID 1 and gets SIGTERM itself, which drains and flushes.
# The port comes from $PORT (Cloud Run sets it); the model from
# $TORCHDOG_MODEL, --model, or runs/latest/model.safetensors.
CMD ["node", "bin/torchdog.js", "serve", "--host", "0.0.0.0"]
