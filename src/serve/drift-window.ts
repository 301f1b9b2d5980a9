// The drift window behind GET /drift: the training set's features (the
// reference) and those of the most recent predictions, kept in memory
// whatever happens to the prediction log. The verdict is computed on the
// event loop, so it is cached: recomputed at most once per `refreshMs` and
// only after new predictions, one computation at a time that every caller
// meanwhile shares (16 clients polling /drift must not starve /health).
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
  /** Shortest time between two computations of the verdict. Default 0 (whenever there are new predictions). */
  refreshMs?: number;
  /** Told when the reference cannot be read. */
  log: Logger;
}

export class DriftWindow {
  private reference: readonly FeatureRecord[] | null = null;
  private referenceError: Error | undefined;
  private readonly recent: FeatureRecord[] = [];
  private readonly size: number;
  private readonly refreshMs: number;
  /** Records added so far: the verdict is stale once more have come. */
  private added = 0;
  private cached: { verdict: DriftVerdict; added: number; at: number } | undefined;
  private computing: Promise<DriftVerdict> | undefined;
  private computations = 0;

  constructor(options: DriftWindowOptions) {
    this.size = options.size;
    this.refreshMs = options.refreshMs ?? 0;
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
    this.added++;
    if (this.recent.length > this.size) this.recent.splice(0, this.recent.length - this.size);
  }

  /** How many times the verdict was computed (not answered from the cache). */
  get computed(): number {
    return this.computations;
  }

  /**
   * The verdict over the window; `error` when the reference could not be
   * read, neither while it is still loading. The cached one while no
   * prediction came since, or younger than `refreshMs`.
   */
  async verdict(): Promise<{ verdict: DriftVerdict } | { error: Error } | { loading: true }> {
    if (this.referenceError) return { error: this.referenceError };
    const reference = this.reference;
    if (!reference) return { loading: true };
    if (this.recent.length === 0) {
      return { verdict: { dataset_drift: null, reason: 'no predictions yet', current_size: 0, reference_size: reference.length } };
    }
    const cached = this.cached;
    if (cached && (cached.added === this.added || performance.now() - cached.at < this.refreshMs)) return { verdict: cached.verdict };
    this.computing ??= (async () => {
      // Callers of this turn of the loop join before the work starts.
      await new Promise((resolve) => setImmediate(resolve));
      const added = this.added;
      this.computations++;
      const verdict = detectDrift(reference, this.recent);
      this.cached = { verdict, added, at: performance.now() };
      return verdict;
    })().finally(() => (this.computing = undefined));
    return { verdict: await this.computing };
  }
}
