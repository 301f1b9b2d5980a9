#!/usr/bin/python3
"""A second real image set from a Debian package: scikit-learn's 8x8
handwritten digits (python3-sklearn), as an ImageFolder of grey PNGs with a
fixed, stratified 20% test split (1437 train / 360 test). Train on it with
data.image_size=32: the loader scales the 8x8 images up.
  /usr/bin/python3 scripts/make-digits-dataset.py [OUT]     default: data/digits
"""
import shutil
import sys
from pathlib import Path

from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "data/digits")
    digits = load_digits()
    # Pixel values are 0..16: stretched to 0..255 grey.
    pixels = (digits.images * (255.0 / 16.0)).round().astype("uint8")
    train, test = train_test_split(range(len(pixels)), test_size=0.2, random_state=0, stratify=digits.target)
    shutil.rmtree(out, ignore_errors=True)
    for split, indices in (("train", train), ("test", test)):
        for i in indices:
            folder = out / split / str(digits.target[i])
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels[i], mode="L").save(folder / f"{i}.png")
        print(f"{split}: {len(indices)} images")


if __name__ == "__main__":
    main()
