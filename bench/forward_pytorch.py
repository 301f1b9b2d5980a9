#!/usr/bin/env python3
"""PyTorch baseline for bench/forward.ts: torchvision ResNet18 forward throughput.

Does the same work per batch as torchdog's Model.forward in eval mode:
uint8 NHWC RGB -> permute to NCHW (channels-last memory) -> float32 ->
x * 1/(255*std) - mean/std -> model -> softmax; logits and probabilities
copied out. All under torch.inference_mode with torch.set_num_threads(N).

Timing, the same as bench/forward.ts: per batch size a warm-up (at least
--warmup-min batches and --warmup-seconds), then --rounds rounds that each run
batches back to back until seconds/rounds have passed (at least one batch);
the median over rounds is reported.

Standalone: progress to stderr, the result as one JSON line on stdout.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/forward_pytorch.py --threads 2 --batches 1,32 --seconds 5

--serve (used by bench/forward.ts so that the two run their rounds in turn and
share whatever else loads the machine): prints one JSON "ready" line, then
answers each JSON line on stdin, {"batch": B, "seconds": S, "minIters": N},
with {"iters": I, "elapsed": SECONDS} after running one round; EOF ends it.
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402
import torchvision  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batches", default="1,32")
    p.add_argument("--seconds", type=float, default=5.0, help="timed seconds per batch size")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--warmup-seconds", type=float, default=1.0)
    p.add_argument("--warmup-min", type=int, default=2, help="at least this many warm-up batches")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--classes", type=int, default=2)
    p.add_argument("--serve", action="store_true", help="answer round requests on stdin (see above)")
    return p.parse_args()


class Bench:
    def __init__(self, threads, size, classes):
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        self.size = size
        self.model = torchvision.models.resnet18(num_classes=classes)
        self.model.eval()
        mean = torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1)
        std = torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1)
        self.scale = 1.0 / (std * 255.0)
        self.shift = mean / std
        self.pixels = {}

    def images(self, batch):
        # Seeded random bytes, made once per batch size (as forward.ts does);
        # pixel content does not change the timing.
        if batch not in self.pixels:
            g = torch.Generator().manual_seed(1234 + batch)
            self.pixels[batch] = torch.randint(0, 256, (batch, self.size, self.size, 3), dtype=torch.uint8, generator=g)
        return self.pixels[batch]

    def forward(self, pixels):
        with torch.inference_mode():
            x = pixels.permute(0, 3, 1, 2).to(torch.float32)  # NCHW view, channels-last memory
            x.mul_(self.scale).sub_(self.shift)
            logits = self.model(x)
            probabilities = torch.softmax(logits, 1).contiguous()
            return logits.contiguous().numpy().copy(), probabilities.numpy().copy()

    def round(self, batch, seconds, min_iters=1):
        """Runs batches until `seconds` have passed and at least `min_iters` ran."""
        pixels = self.images(batch)
        start = time.perf_counter()
        iters = 0
        while True:
            self.forward(pixels)
            iters += 1
            elapsed = time.perf_counter() - start
            if iters >= min_iters and elapsed >= seconds:
                return iters, elapsed


def serve(bench):
    print(json.dumps({"ready": True, "torch": torch.__version__, "torchvision": torchvision.__version__,
                      "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        iters, elapsed = bench.round(int(req["batch"]), float(req["seconds"]), int(req.get("minIters", 1)))
        print(json.dumps({"iters": iters, "elapsed": elapsed}), flush=True)


def standalone(bench, args):
    results = {}
    for batch in [int(b) for b in args.batches.split(",") if b.strip()]:
        bench.round(batch, args.warmup_seconds, args.warmup_min)
        ips, ms = [], []
        for _ in range(args.rounds):
            iters, elapsed = bench.round(batch, args.seconds / args.rounds)
            ips.append(iters * batch / elapsed)
            ms.append(elapsed * 1000.0 / iters)
        r = results[str(batch)] = {
            "imgPerSec": statistics.median(ips),
            "msPerBatch": statistics.median(ms),
            "minImgPerSec": min(ips),
            "maxImgPerSec": max(ips),
            "rounds": len(ips),
        }
        print(f"pytorch batch {batch}: {r['imgPerSec']:.1f} img/s, {r['msPerBatch']:.1f} ms/batch", file=sys.stderr)
    print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "torchvision": torchvision.__version__,
                      "threads": torch.get_num_threads(), "size": args.size, "results": results}))


def main():
    args = parse_args()
    bench = Bench(args.threads, args.size, args.classes)
    if args.serve:
        serve(bench)
    else:
        standalone(bench, args)


if __name__ == "__main__":
    main()
