"""The seed project's training recipe in PyTorch, for bench/train.ts.

Same model (torchvision resnet18, from scratch), image size, batch, optimizer,
epochs, augmentation (horizontal flip) and data (an ImageFolder with train/
and test/) as a torchdog run. Prints one JSON line: wall seconds, training
img/s (time inside the training loop, data loading included, as a PyTorch user
would see it), and the final validation accuracy.
"""
import argparse
import json
import os
import time

import torch
import torchvision
from torchvision import transforms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    normalize = transforms.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
    train_tf = transforms.Compose([
        transforms.Resize((args.size, args.size)), transforms.RandomHorizontalFlip(), transforms.ToTensor(), normalize,
    ])
    test_tf = transforms.Compose([transforms.Resize((args.size, args.size)), transforms.ToTensor(), normalize])
    train_set = torchvision.datasets.ImageFolder(os.path.join(args.data, "train"), train_tf)
    test_set = torchvision.datasets.ImageFolder(os.path.join(args.data, "test"), test_tf)
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch, shuffle=True, num_workers=args.workers)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=args.batch, num_workers=args.workers)

    model = torchvision.models.resnet18(num_classes=len(train_set.classes))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    train_seconds = 0.0
    images = 0
    epochs = []
    for epoch in range(args.epochs):
        model.train()
        t0 = time.perf_counter()
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            images += len(y)
        train_seconds += time.perf_counter() - t0
        model.eval()
        correct = total = 0
        with torch.inference_mode():
            for x, y in test_loader:
                correct += (model(x).argmax(1) == y).sum().item()
                total += len(y)
        epochs.append({"epoch": epoch + 1, "val_acc": correct / total})
        print(json.dumps({"progress": epochs[-1]}), flush=True)
    print(json.dumps({
        "seconds": time.perf_counter() - started,
        "train_img_per_s": images / train_seconds,
        "val_acc": epochs[-1]["val_acc"],
        "best_val_acc": max(e["val_acc"] for e in epochs),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
