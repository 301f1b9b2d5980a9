// The drift window behind GET /drift: the training set's features (the
// reference) and those of the most recent predictions, kept in memory
// whatever happens to the prediction log.
import { detectDrift, type DriftReport, type FeatureRecord } from '../drift/index.js';
import type { Logger } from './log.js';

export type DriftVerdict =
  | DriftReport
  | { dataset_drift: null; reason: string; current_size: 0; reference_size: number };

export interface DriftWindowOptions {
  /** The reference records (a run's reference.jsonl), or a promise of them. */
  reference: readonly FeatureRecord[] | Promise<readonly FeatureRecord[]>;
  /** How many of the most recent predictions the verdict compares. */
  size: number;
  /** Told when the reference cannot be read. */
  log: Logger;
}

export class DriftWindow {
  private reference: readonly FeatureRecord[] | null = null;
  private referenceError: Error | undefined;
  private readonly recent: FeatureRecord[] = [];
  private readonly size: number;

  constructor(options: DriftWindowOptions) {
    this.size = options.size;
    if (Array.isArray(options.reference)) {
      this.reference = options.reference;
    } else {
      void Promise.resolve(options.reference).then(
        (records) => (this.reference = records),
        (error: Error) => {
          this.referenceError = error;
          options.log({ severity: 'WARNING', message: `drift reference unavailable: ${error.message}` });
        },
      );
    }
  }

  /** Adds one prediction's features, forgetting the oldest beyond the window. */
  add(record: FeatureRecord): void {
    this.recent.push(record);
    if (this.recent.length > this.size) this.recent.splice(0, this.recent.length - this.size);
  }

  /**
   * The verdict over the window; `error` when the reference could not be
   * read, neither while it is still loading.
   */
  verdict(): { verdict: DriftVerdict } | { error: Error } | { loading: true } {
    if (this.referenceError) return { error: this.referenceError };
    if (!this.reference) return { loading: true };
    if (this.recent.length === 0) {
      return { verdict: { dataset_drift: null, reason: 'no predictions yet', current_size: 0, reference_size: this.reference.length } };
    }
    return { verdict: detectDrift(this.reference, this.recent) };
  }
}
