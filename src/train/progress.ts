// Training progress on stderr: a redrawn bar on a terminal, plain periodic
// lines otherwise (CI logs, pipes).

export interface StepProgress {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  imgPerS: number;
  /** Seconds left in the run, estimated. */
  eta: number;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const mmss = `${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

export class ProgressReporter {
  private lastLine = 0;
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean } = process.stderr,
    private readonly logEvery = 10,
  ) {}

  private get tty(): boolean {
    return Boolean(this.stream.isTTY);
  }

  step(p: StepProgress): void {
    const text =
      `epoch ${p.epoch + 1}/${p.epochs} step ${p.step}/${p.steps} loss ${p.loss.toFixed(4)} ` +
      `${p.imgPerS.toFixed(1)} img/s ETA ${clock(p.eta)}`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round((p.step / p.steps) * width);
      this.stream.write(`\r\x1b[K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${text}`);
      this.drawn = true;
    } else if (p.step === p.steps || p.step - this.lastLine >= this.logEvery || p.step < this.lastLine) {
      this.lastLine = p.step;
      this.stream.write(`${text}\n`);
    }
  }

  /** A line that stays (epoch summaries, warnings). */
  line(text: string): void {
    if (this.drawn) {
      this.stream.write('\r\x1b[K');
      this.drawn = false;
    }
    this.stream.write(`${text}\n`);
  }
}
