// Help texts, one per command, printed by `torchdog --help` and `torchdog <command> --help`.
export const MAIN_USAGE = `torchdog — train, serve and monitor a ResNet18 image classifier on LibTorch

Usage: torchdog <command> [options]

Commands:
  predict --model M IMAGE...   classify image files; one JSON line per image

Run 'torchdog <command> --help' for a command's options.
`;

export const PREDICT_USAGE = `Usage: torchdog predict --model M.safetensors [options] IMAGE...

Classifies image files (JPEG, PNG, WebP, ...) with a torchdog checkpoint and
prints one JSON line per image: {"file","category","probability","probabilities"}.
An image that cannot be read prints {"file","error":{"code","message"}} and the
command exits with status 1 after the other images.

Options:
  --model, -m FILE     checkpoint (.safetensors) written by 'torchdog train'   [required]
  --device DEVICE      cpu, cuda, cuda:N or auto                               [default: auto]
  --threads N          LibTorch threads, 0 = one per core                       [default: 0]
  --batch N            images per forward pass                                  [default: 32]
  --help, -h           show this help
`;
