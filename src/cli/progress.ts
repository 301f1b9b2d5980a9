// The commands' progress bar on stderr: `[#########...............] text`,
// redrawn in place on a terminal. Off a terminal (CI logs, pipes) nothing is
// redrawn: each command prints plain lines at its own pace through line().

/** Where progress goes: process.stderr, or anything with write() (tests). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

const WIDTH = 24;
/** Redraws closer together than this are skipped (a bar needs no more than 10 frames a second). */
const MIN_REDRAW_MS = 100;

/** `mm:ss`, or `h:mm:ss` from an hour up; `--:--` when unknown. */
export function clock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const mmss = `${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mmss}` : mmss;
}

export class ProgressBar {
  private drawn = false;
  private lastDraw = -Infinity;

  constructor(
    private readonly stream: ProgressStream = process.stderr,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether draw() shows anything: only a terminal gets a bar. */
  get tty(): boolean {
    return Boolean(this.stream.isTTY);
  }

  /** On a terminal, redraws the bar at `done` of `total` followed by `text`; a finished bar is always drawn. */
  draw(done: number, total: number, text: string): void {
    if (!this.tty) return;
    const t = this.now();
    if (done < total && t - this.lastDraw < MIN_REDRAW_MS) return;
    this.lastDraw = t;
    const filled = total > 0 ? Math.min(WIDTH, Math.round((done / total) * WIDTH)) : WIDTH;
    this.stream.write(`\r\x1b[K[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${text}`);
    this.drawn = true;
  }

  /** Leaves the bar on screen as it is and moves below it. */
  end(): void {
    this.lastDraw = -Infinity;
    if (!this.drawn) return;
    this.stream.write('\n');
    this.drawn = false;
  }

  /** A line that stays (a summary, a warning, a plain progress line): a bar in progress is wiped first and redrawn by the next draw(). */
  line(text: string): void {
    if (this.drawn) {
      this.stream.write('\r\x1b[K');
      this.drawn = false;
      this.lastDraw = -Infinity;
    }
    this.stream.write(`${text}\n`);
  }
}
