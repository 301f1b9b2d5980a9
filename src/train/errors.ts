export class TrainError extends Error {
  readonly code = 'ERR_TORCHDOG_TRAIN';
}
