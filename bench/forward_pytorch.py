#!/usr/bin/env python3
"""PyTorch baseline for bench/forward.ts: torchvision ResNet18 forward throughput.

Does the same work per batch as torchdog's Model.forward in eval mode:
uint8 NHWC RGB -> permute to NCHW (channels-last memory) -> float32 ->
x * 1/(255*std) - mean/std -> model -> softmax, logits and probabilities
copied out; all under torch.inference_mode with torch.set_num_threads(N).

Same timing method as bench/forward.ts: warm-up, then ROUNDS rounds that each
run batches until SECONDS/ROUNDS have passed (at least one batch); reports the
median over rounds. Progress goes to stderr; the result is one JSON line on
stdout.

    OPENBLAS_NUM_THREADS=1 python3 bench/forward_pytorch.py --threads 2 --batches 1,32 --seconds 5
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
    return p.parse_args()


def make_pixels(count, size, seed):
    # Seeded random bytes; pixel content does not change the timing.
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, size, size, 3), dtype=torch.uint8, generator=g)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=args.classes)
    model.eval()

    mean = torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1)
    std = torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1)
    scale = 1.0 / (std * 255.0)
    shift = mean / std

    def forward(pixels):
        with torch.inference_mode():
            x = pixels.permute(0, 3, 1, 2).to(torch.float32)
            x.mul_(scale).sub_(shift)
            logits = model(x)
            probabilities = torch.softmax(logits, 1).contiguous()
            logits = logits.contiguous()
            return logits.numpy().copy(), probabilities.numpy().copy()

    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    results = {}
    for batch in batches:
        pixels = make_pixels(batch, args.size, 1234 + batch)
        t0 = time.perf_counter()
        n = 0
        while n < args.warmup_min or time.perf_counter() - t0 < args.warmup_seconds:
            forward(pixels)
            n += 1
        round_s = args.seconds / args.rounds
        ips, ms = [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            iters = 0
            while True:
                forward(pixels)
                iters += 1
                elapsed = time.perf_counter() - start
                if elapsed >= round_s:
                    break
            ips.append(iters * batch / elapsed)
            ms.append(elapsed * 1000.0 / iters)
        results[str(batch)] = {
            "imgPerSec": statistics.median(ips),
            "msPerBatch": statistics.median(ms),
            "minImgPerSec": min(ips),
            "maxImgPerSec": max(ips),
            "rounds": len(ips),
        }
        print(
            f"pytorch batch {batch}: {results[str(batch)]['imgPerSec']:.1f} img/s, "
            f"{results[str(batch)]['msPerBatch']:.1f} ms/batch",
            file=sys.stderr,
        )

    print(
        json.dumps(
            {
                "impl": "pytorch",
                "torch": torch.__version__,
                "torchvision": torchvision.__version__,
                "threads": torch.get_num_threads(),
                "size": args.size,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
