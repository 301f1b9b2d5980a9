// Help texts, one per command, printed by `torchdog --help` and `torchdog <command> --help`.
import type { ServeDefaults } from '../serve/index.js';

export const MAIN_USAGE = `torchdog — train, serve and monitor a ResNet18 image classifier on LibTorch

Usage: torchdog <command> [options]

Commands:
  train [--config FILE] [key=value ...]   train on an image folder; last stdout line is a JSON summary
  lr-find [--config FILE] [key=value ...] learning-rate range test; one JSON line, the curve in lr-find.html
  eval --model M --data DIR               accuracy and loss on a split; one JSON line
  predict --model M IMAGE...              classify image files; one JSON line per image
  drift --reference R --current C         recent predictions against the training set; JSON, --html page
  serve [--model M] [--port P]            the HTTP service: web page, /predict, /metrics
  data pull|status|push [TARGET]          version data with DVC's format and remotes (local, gs://)
  export --model M --format F             a model for other runtimes: onnx or torchscript; JSON
  quantize --model M --data DIR           int8 calibration into the checkpoint; JSON summary

Options:
  --help, -h                              show this help
  --version, -v                           print the package version

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
  --precision P        fp32, bf16, int8 (a calibrated checkpoint) or auto       [default: fp32]
  --help, -h           show this help
`;

export const TRAIN_USAGE = `Usage: torchdog train [--config FILE] [--resume RUN_DIR] [--nproc N [--nnodes M --node-rank R --master HOST:PORT]] [key=value ...]
       torchdog train --multirun [--config FILE] key=a,b [key2=c,d ...] [key=value ...]

Trains ResNet18 on an ImageFolder (DATA/train/<class>/*.jpg, optional DATA/test/).
Progress goes to stderr (a bar on a terminal; otherwise a line every
train.log_every steps and one per epoch); the last stdout line is a JSON
summary with run_dir, epochs, best_val_acc and val_acc (on data.val_fraction held
out of train/, which chooses the best epoch), test_acc (test/, evaluated once with
the best weights) and train_img_per_s.
The default data.root, data/demo, is the embedded demo set: generated there on
first use (a folder of your own at that path is used as it is).

Options:
  --config, -c FILE    YAML config              [default: the package's configs/default.yaml]
  --resume RUN_DIR     continue a run (weights, optimizer state, epoch and step)
  --nproc N            train as N worker processes on this machine (batch_size and threads are per worker)
  --nnodes M --node-rank R --master HOST:PORT
                       one job over M machines: the same command on each (docs/distributed.md)
  --host ADDR          this machine's address for the other ranks  [default: the one routing to --master]
  --timeout S          rendezvous and collective timeout, seconds  [default: 300]
  --multirun, -m       a sweep (Hydra's comma syntax): every combination of the
                       key=a,b values, one run after another, into
                       OUTPUT_DIR/<sweep>/<n>/ (<sweep>: output.name, else a hash of
                       the grid); writes <sweep>/summary.jsonl and <sweep>/index.html
                       (all runs' curves, a sortable table). The same command again
                       skips the finished runs and resumes the interrupted one
  key=value            dotted overrides, e.g. train.epochs=5 optim.lr=3e-4 data.root=data/hotdog
  --help, -h           show this help

Keys and their defaults (the default recipe, the same from any folder):
  data.{root: data/demo, image_size: 128, mean, std, val_fraction: 0.2, workers: 4,
  strict: false}; model.{arch: resnet18, pretrained: null}; optim.{name: adam|adamw|sgd,
  lr: 0.001, weight_decay: 0, momentum: 0.9, nesterov, betas, schedule: cosine|none|step,
  warmup_epochs: 0, step_size, gamma, min_lr}; train.{epochs: 8, batch_size: 32, seed: 0,
  device: auto, threads: 0, amp: auto|true|false, label_smoothing: 0, ema: 0 (EMA decay,
  e.g. 0.999: evaluated and saved), grad_accum_steps: 1, clip_grad_norm: null,
  augment.{hflip: true, crop_scale: [0.6, 1], crop_ratio, mixup.{alpha: 0, prob: 1},
  cutmix.{alpha: 0, prob: 1}}, early_stopping.{patience, min_delta}, log_every: 10};
  output.{dir: runs, name, gcs}.
  train.amp auto: bf16 autocast on CUDA and CPUs with AVX512-BF16/AMX, float32
  elsewhere; the summary's precision says which ran.

A run writes RUN_DIR/{config.yaml, metrics.jsonl, model.safetensors (best),
last.safetensors, optimizer.safetensors, state.json, reference.jsonl, report.html}
and points OUTPUT_DIR/latest at it. Ctrl-C stops after the current step with a
checkpoint that --resume continues exactly.
`;

export const LR_FIND_USAGE = `Usage: torchdog lr-find [--config FILE] [options] [key=value ...]

The learning-rate range test (fastai's lr_find): a fresh model (train.seed)
trains on the config's data, one batch per step, while the learning rate grows
exponentially from --start-lr to --end-lr; the loss is smoothed (EMA 0.98,
bias-corrected) and the test stops when it exceeds 4x its lowest. Prints one
JSON line {"suggested_lr" (steepest fall of the smoothed loss), "min_loss_lr",
"steps", "stopped", "html"} and draws the curve in --html. Writes no run
directory and changes no run's weights.

Options:
  --config, -c FILE    YAML config            [default: the package's configs/default.yaml]
  --steps N            steps of the ramp                                   [default: 100]
  --start-lr X         first learning rate                                 [default: 1e-7]
  --end-lr X           last learning rate                                  [default: 10]
  --html FILE          the curve                                           [default: lr-find.html]
  key=value            dotted config overrides, as for train
  --help, -h           show this help
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
  --precision P        fp32, bf16, int8 (a calibrated checkpoint) or auto: the
                       forward pass the service would run             [default: fp32]
  --help, -h           show this help
`;

export const QUANTIZE_USAGE = `Usage: torchdog quantize --model M.safetensors --data DIR [--images 256] [--out FILE] [--observer percentile]

Calibrates int8 serving: runs the float32 model over up to --images images of
DIR (an ImageFolder, DIR/train/<class>/ or DIR/<class>/, or a flat folder of
images), records each activation's range (--observer: minmax keeps every
value seen; percentile and mse clip rare outliers, chosen from a histogram),
then checks int8 against float32 on up to as many other images of DIR
(agreement, and accuracy where the folders name the model's classes). Writes
the checkpoint with the calibration in its metadata ('calibration'); the
weights stay float32. 'serve --precision auto' serves int8 when the
agreement is at least 99%. Prints one JSON line.

Options:
  --model, -m FILE     checkpoint (.safetensors)                       [required]
  --data DIR           calibration images                              [required]
  --images N           calibration images (a seeded sample)            [default: 256]
  --out FILE           where to write the calibrated checkpoint        [default: --model, replaced atomically]
  --observer NAME      minmax | percentile | mse                       [default: percentile]
  --threads N          LibTorch threads, 0 = one per core              [default: 0]
  --help, -h           show this help
`;

/**
 * `torchdog serve --help`, its defaults from SERVE_DEFAULTS (passed in, so
 * that this file, which every command loads, does not load the service).
 */
export function serveUsage(d: ServeDefaults): string {
  const col = (text: string | number) => `[default: ${text}]`;
  return `Usage: torchdog serve [--model M] [--port P] [--host H] [options]

Serves a checkpoint over HTTP: GET / (a page to try images), GET /health,
GET /ready, POST /predict (multipart field 'data' or 'file', or the raw image
as the body), GET /metrics (Prometheus), GET /openapi.json, and the Open
Inference Protocol (KServe v2) under /v2: POST /v2/models/NAME/infer takes
input 'image', UINT8 [-1, H, W, 3]. Concurrent predictions share batched
forward passes. Logs are JSON lines on stderr, each with its request's id
(X-Request-Id). SIGHUP (or POST /v2/repository/models/NAME/load) reloads
--model without downtime; a model that fails to load leaves the old one
serving. SIGTERM or Ctrl-C stops taking requests, answers those in progress
and flushes the prediction log.

Options:
  --model, -m M            checkpoint path or gs://BUCKET/PATH
                           ${col(`$TORCHDOG_MODEL, else ${d.model}`)}
  --name NAME              the model's name in /v2/models/NAME     [default: the run's, the model's folder]
  --cors ORIGIN            let pages of ORIGIN call the service (CORS); '*' for any,
                           repeat or comma-separate for more       [default: none]
  --port P                 TCP port, 0 = any free one             ${col(`$PORT, else ${d.port}`)}
  --host H                 address to listen on                   ${col(`$HOST, else ${d.host}`)}
  --device DEVICE          cpu, cuda, cuda:N or auto              [default: auto]
  --threads N              LibTorch threads, 0 = one per core     [default: 0]
  --precision P            fp32, bf16, int8 or auto: auto serves int8 when the checkpoint's
                           calibration agreed >= 99% with fp32 (torchdog quantize, or every
                           train run) on an AVX2/VNNI/AMX CPU, bf16 on CUDA, else fp32
                                                                  [default: auto]
  --max-batch N            most images per forward pass           ${col(d.maxBatch)}
  --max-wait-ms N          longest an image waits to share a pass ${col(d.maxWaitMs)}
                           (only while other requests are on their way, unless --fixed-wait)
  --fixed-wait             always wait --max-wait-ms for company, even when none is coming
  --max-queue N            predictions in progress before 503     ${col(d.maxQueue)}
  --timeout-ms N           budget per prediction, then 503        ${col(d.requestTimeoutMs)}
  --max-body-mb N          largest request body in MiB (413)      ${col(d.maxBodyBytes / 2 ** 20)}
  --max-pixels N           largest image width*height (413)       ${col(d.maxPixels)}
  --predictions TARGET     prediction log for drift monitoring: FILE.jsonl, gs://BUCKET/PREFIX
                           or none          ${col(`$TORCHDOG_PREDICTIONS, else ${d.predictions}`)}
  --flush-ms N             prediction-log flush interval          ${col(`${d.predictionLogFlushMs}; ${d.gcsPredictionLogFlushMs} for gs://`)}
  --predictions-max-mb N   rotate a log FILE to FILE.1 past N MiB, 0 = never ${col(d.predictionLogMaxBytes / 2 ** 20)}
  --reference FILE         training features for GET /drift (a run's reference.jsonl or run dir), or none
                           [default: reference.jsonl beside a local --model, if present]
  --drift-window N         GET /drift compares this many most recent predictions ${col(d.driftWindow)}
  --shutdown-timeout-ms N  longest a stop waits for requests      ${col(d.shutdownTimeoutMs)}
  --help, -h               show this help
`;
}

export const DRIFT_USAGE = `Usage: torchdog drift --reference R --current C [--window N] [--html FILE]

Compares the drift features (avg_brightness, contrast, sharpness) and the class
of recent predictions with those of the training set, column by column, with
Evidently's default tests: Kolmogorov-Smirnov or normed Wasserstein for the
features, chi-squared, z-test or Jensen-Shannon for the class (picked by the
reference size and the number of distinct values). The dataset drifts when at
least half the columns do. Prints the verdict as JSON: per column the test,
statistic, p_value or distance, threshold and drift; dataset_drift overall.

Options:
  --reference, -r R    RUN_DIR/reference.jsonl, or the run directory itself     [required]
  --current, -c C      prediction log (JSONL) written by 'torchdog serve'        [required]
  --window, -w N       use only the N most recent (last) lines of C, continuing
                       into C.1 (where serve rotates the log to) when C holds fewer
  --html FILE          also write a self-contained HTML report with the distributions
  --fail-on-drift      exit with status 3 when the dataset drifted (for cron and CI)
  --help, -h           show this help

A malformed line stops the command with its file and line number (status 1).
`;

export const DATA_USAGE = `Usage: torchdog data <pull|status|push> [TARGET...] [options]

Data versioning compatible with DVC 3, without Python: .dvc files, the remotes
of .dvc/config (local folders and gs://BUCKET[/PREFIX]), the .dvc/cache cache
and .dvcignore, exactly as DVC uses them. TARGET is a .dvc file (data.dvc) or
the path it tracks (data); default: every .dvc file in the repository, which
is the nearest folder at or above the current one that holds .dvc/.

  pull     download the version the .dvc files name (every md5 verified) into
           the cache and the workspace; files already right are skipped
  status   compare the workspace, the cache and (--cloud) the remote with the
           .dvc files
  push     hash the workspace as DVC does, upload what the remote lacks, then
           write the new version into the .dvc file (a TARGET folder without
           one gets a new FOLDER.dvc)

Options:
  --remote, -r NAME    remote from .dvc/config        [default: the output's remote:, else core.remote]
  --jobs, -j N         parallel transfers             [default: 16]
  --force, -f          pull: overwrite workspace files whose content is in neither
                       the .dvc version nor the cache (lost otherwise)
  --cloud, -c          status: also ask the remote which objects it has
  --json               status: one JSON object instead of the report
  --help, -h           show this help

pull and push print progress on stderr and one JSON summary line on stdout.
gs:// uses Application Default Credentials (gcloud auth application-default
login, or GOOGLE_APPLICATION_CREDENTIALS); STORAGE_EMULATOR_HOST points it at an
emulator. Ctrl-C stops after the transfers in flight (status 130): everything
written is complete and verified, and running the command again continues.
`;

export const EXPORT_USAGE = `Usage: torchdog export --model M --format onnx|torchscript [--out FILE] [--opset N]

Writes a checkpoint as a model for another runtime. Both formats take uint8
RGB pixels [N, S, S, 3] (NHWC; S is the checkpoint's image_size, N is free) and
return logits and probabilities, float32 [N, classes]; the normalisation is
inside, and the classes, image_size, mean and std travel with the file.

  onnx         for onnxruntime (Node, web, mobile, Python), TensorRT, Triton...:
               input 'image', outputs 'logits' and 'probabilities', the metadata
               in metadata_props
  torchscript  a .pt for torch.jit.load (PyTorch) and torch::jit::load (LibTorch):
               forward(image) -> (logits, probabilities), state_dict() with
               torchvision's names, the metadata in the extra file torchdog.json;
               loaded back and checked against the checkpoint before it is kept

Prints one JSON line: {"format","out","bytes","seconds","classes","image_size","opset"},
for torchscript also "check" (its largest difference from the checkpoint when
loaded back). The file appears whole or not at all.

Options:
  --model, -m M        checkpoint (.safetensors) or gs://BUCKET/PATH           [required]
  --format, -f F       onnx or torchscript                                    [required]
  --out, -o FILE       where to write     [default: the checkpoint's path as .onnx or .pt]
  --opset N            ONNX opset, 11 to 23                                   [default: 13]
  --help, -h           show this help
`;
