// Help texts, one per command, printed by `torchdog --help` and `torchdog <command> --help`.
export const MAIN_USAGE = `torchdog — train, serve and monitor a ResNet18 image classifier on LibTorch

Usage: torchdog <command> [options]

Commands:
  train [--config FILE] [key=value ...]   train on an image folder; last stdout line is a JSON summary
  eval --model M --data DIR               accuracy and loss on a split; one JSON line
  predict --model M IMAGE...              classify image files; one JSON line per image

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

export const TRAIN_USAGE = `Usage: torchdog train [--config FILE] [--resume RUN_DIR] [key=value ...]

Trains ResNet18 on an ImageFolder (DATA/train/<class>/*.jpg, optional DATA/test/).
Progress goes to stderr; the last stdout line is a JSON summary with run_dir,
epochs, best_val_acc, val_acc and train_img_per_s.

Options:
  --config, -c FILE    YAML config              [default: configs/default.yaml if present]
  --resume RUN_DIR     continue a run (weights, optimizer state, epoch and step)
  key=value            dotted overrides, e.g. train.epochs=5 optim.lr=3e-4 data.root=data/hotdog
  --help, -h           show this help

Keys (defaults): data.{root: data/demo, image_size: 128, mean, std, val_fraction: 0.2,
  workers: 4, strict: false}; model.{arch: resnet18, pretrained: null};
  optim.{name: adam|adamw|sgd, lr: 0.001, weight_decay: 0, momentum: 0.9, nesterov,
  betas, schedule: none|step|cosine, warmup_epochs, step_size, gamma, min_lr};
  train.{epochs: 3, batch_size: 32, seed: 0, device: auto, threads: 0,
  augment.{hflip, crop_scale, crop_ratio}, early_stopping.{patience, min_delta}, log_every};
  output.{dir: runs, name, gcs}.

A run writes RUN_DIR/{config.yaml, metrics.jsonl, model.safetensors (best),
last.safetensors, optimizer.safetensors, state.json, reference.jsonl, report.html}
and points OUTPUT_DIR/latest at it. Ctrl-C stops after the current step with a
checkpoint that --resume continues exactly.
`;

export const EVAL_USAGE = `Usage: torchdog eval --model M.safetensors --data DIR [--split test]

Prints one JSON line: {"accuracy","loss","n","per_class"}.

Options:
  --model, -m FILE     checkpoint                                     [required]
  --data DIR           ImageFolder root (DIR/<split>/<class>/*.jpg)   [required]
  --split NAME         sub-folder to evaluate                         [default: test]
  --device DEVICE      cpu, cuda, cuda:N or auto                      [default: auto]
  --threads N          LibTorch threads, 0 = one per core             [default: 0]
  --batch N            images per forward pass                        [default: 32]
`;
