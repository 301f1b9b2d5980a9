#!/usr/bin/env bash
# A small real image set from a Debian package: the Adwaita icon theme's 48 px
# icons (adwaita-icon-theme), four classes by their folder (actions, devices,
# mimetypes, status), as an ImageFolder with a fixed 20% test split (by the
# icon name's checksum, so the split is the same everywhere).
#   scripts/make-icon-dataset.sh [OUT]     default: data/icons
set -euo pipefail
out="${1:-data/icons}"
src=/usr/share/icons/Adwaita/48x48
[[ -d "$src" ]] || { echo "needs $src (apt-get install adwaita-icon-theme)" >&2; exit 1; }
rm -rf "$out"
for class in actions devices mimetypes status; do
  mkdir -p "$out/train/$class" "$out/test/$class"
  for f in "$src/$class"/*.png; do
    name=$(basename "$f")
    split=train
    (( $(cksum <<<"$name" | cut -d' ' -f1) % 5 == 0 )) && split=test
    cp "$f" "$out/$split/$class/$name"
  done
done
for split in train test; do echo "$split: $(find "$out/$split" -name '*.png' | wc -l) images"; done
