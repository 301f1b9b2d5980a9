// GET /: one self-contained page (no front-end build): pick, drop or paste
// an image, see it, and see the class with a bar per class. The script and
// style are inline; the Content-Security-Policy allows exactly them by hash.
import { createHash } from 'node:crypto';

const STYLE = `
:root {
  --bg: #f6f4ef; --card: #fff; --ink: #1f2328; --muted: #656d76; --line: #e4e0d6;
  --accent: #c2410c; --accent-soft: #fff1e6; --bar: #d6d0c4; --top: #c2410c; --bad: #b42318;
  color-scheme: light;
}
* { box-sizing: border-box; }
body {
  margin: 0; min-height: 100vh; background: var(--bg); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  display: flex; flex-direction: column; align-items: center;
}
header, main, footer { width: min(880px, 100% - 32px); }
header { display: flex; align-items: baseline; justify-content: space-between; gap: 16px; padding: 28px 0 16px; flex-wrap: wrap; }
h1 { margin: 0; font-size: 26px; letter-spacing: -0.02em; }
h1 span { color: var(--accent); }
.tagline { color: var(--muted); margin: 2px 0 0; }
.status { font-size: 13px; color: var(--muted); display: flex; align-items: center; gap: 8px; }
.dot { width: 9px; height: 9px; border-radius: 50%; background: #bbb; display: inline-block; }
.dot.ok { background: #1a7f37; } .dot.bad { background: var(--bad); }
main { background: var(--card); border: 1px solid var(--line); border-radius: 14px; padding: 24px;
  box-shadow: 0 1px 2px rgb(0 0 0 / 4%), 0 8px 24px rgb(0 0 0 / 5%);
  display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 24px; }
@media (max-width: 680px) { main { grid-template-columns: 1fr; } }
.drop { position: relative; border: 2px dashed var(--line); border-radius: 12px; min-height: 300px;
  display: flex; align-items: center; justify-content: center; text-align: center; cursor: pointer;
  background: #fbfaf7; transition: border-color .15s, background .15s; overflow: hidden; }
.drop:hover, .drop:focus-within, .drop.over { border-color: var(--accent); background: var(--accent-soft); }
.drop input { position: absolute; inset: 0; opacity: 0; cursor: pointer; }
.drop .hint { padding: 24px; color: var(--muted); pointer-events: none; }
.drop .hint strong { display: block; color: var(--ink); font-size: 17px; margin-bottom: 4px; }
.drop .hint .button { display: inline-block; margin-top: 14px; padding: 8px 16px; border-radius: 8px;
  background: var(--accent); color: #fff; font-weight: 600; }
.drop img { width: 100%; height: 100%; max-height: 420px; object-fit: contain; display: block; pointer-events: none; }
.drop.has-image { border-style: solid; background: #fff; }
.drop.has-image .hint { display: none; }
.drop .caption { position: absolute; left: 0; right: 0; bottom: 0; padding: 6px 10px; font-size: 12px;
  color: #fff; background: linear-gradient(transparent, rgb(0 0 0 / 55%)); text-align: left; pointer-events: none;
  overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.result h2 { margin: 0 0 4px; font-size: 13px; font-weight: 600; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); }
.verdict { font-size: 34px; font-weight: 700; letter-spacing: -0.02em; margin: 0; min-height: 1.3em; word-break: break-word; }
.confidence { color: var(--muted); margin: 0 0 18px; min-height: 1.5em; }
.bars { list-style: none; margin: 0; padding: 0; display: grid; gap: 12px; }
.bars li { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 4px 12px; }
.bars .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.bars .pct { font-variant-numeric: tabular-nums; color: var(--muted); }
.bars .track { grid-column: 1 / -1; height: 10px; border-radius: 5px; background: #f0ede6; overflow: hidden; }
.bars .fill { height: 100%; width: 0; background: var(--bar); border-radius: 5px; transition: width .35s ease-out; }
.bars li.top .fill { background: var(--top); } .bars li.top .name { font-weight: 600; }
.placeholder { color: var(--muted); }
.error { margin-top: 16px; padding: 10px 12px; border-radius: 8px; background: #fef3f2; color: var(--bad);
  border: 1px solid #fecdca; font-size: 14px; }
.error code { font-weight: 600; }
.meta { margin-top: 18px; color: var(--muted); font-size: 13px; }
.busy .verdict { opacity: .45; }
footer { color: var(--muted); font-size: 13px; padding: 16px 0 32px; display: flex; gap: 16px; flex-wrap: wrap; }
footer a { color: inherit; }
footer code { background: #ece8df; padding: 1px 5px; border-radius: 4px; }
[hidden] { display: none !important; }
`;

const SCRIPT = `
const $ = (id) => document.getElementById(id);
const drop = $('drop'), input = $('file'), preview = $('preview'), result = $('result');
const verdict = $('verdict'), confidence = $('confidence'), bars = $('bars'), error = $('error'), meta = $('meta');
const caption = $('caption');
let previewUrl = null;

function pct(p) { return (100 * p).toFixed(p >= 0.9995 || p < 0.0005 ? 0 : 1) + '%'; }

function showError(code, message) {
  error.hidden = false;
  error.replaceChildren();
  const c = document.createElement('code'); c.textContent = code;
  error.append(c, ' ' + message);
}

function showBars(probabilities, top) {
  bars.replaceChildren();
  const entries = Object.entries(probabilities).sort((a, b) => b[1] - a[1]);
  for (const [name, p] of entries) {
    const li = document.createElement('li');
    if (name === top) li.className = 'top';
    const n = document.createElement('span'); n.className = 'name'; n.textContent = name;
    const v = document.createElement('span'); v.className = 'pct'; v.textContent = pct(p);
    const track = document.createElement('div'); track.className = 'track';
    const fill = document.createElement('div'); fill.className = 'fill';
    track.append(fill); li.append(n, v, track); bars.append(li);
    requestAnimationFrame(() => { fill.style.width = (100 * p).toFixed(2) + '%'; });
  }
}

async function classify(file) {
  if (!file) return;
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = URL.createObjectURL(file);
  preview.src = previewUrl; preview.hidden = false; drop.classList.add('has-image');
  caption.textContent = file.name + ' · click or drop to replace'; caption.hidden = false;
  error.hidden = true; result.classList.add('busy');
  verdict.textContent = '…'; confidence.textContent = 'classifying ' + file.name;
  const body = new FormData(); body.append('data', file, file.name);
  const started = performance.now();
  try {
    const response = await fetch('predict', { method: 'POST', body });
    const answer = await response.json().catch(() => null);
    const ms = Math.round(performance.now() - started);
    if (!response.ok || !answer || answer.error) {
      verdict.textContent = '—'; confidence.textContent = ''; bars.replaceChildren();
      const e = (answer && answer.error) || { code: 'HTTP_' + response.status, message: response.statusText };
      showError(e.code, e.message);
      return;
    }
    verdict.textContent = answer.category;
    confidence.textContent = pct(answer.probability) + ' probability · ' + ms + ' ms';
    showBars(answer.probabilities, answer.category);
  } catch (e) {
    verdict.textContent = '—'; confidence.textContent = '';
    showError('NETWORK', String(e && e.message || e));
  } finally {
    result.classList.remove('busy');
  }
}

input.addEventListener('change', () => classify(input.files[0]));
// What the browser cannot show (or is no image) leaves the drop zone as it was.
preview.addEventListener('error', () => { preview.hidden = true; caption.hidden = true; drop.classList.remove('has-image'); });
for (const type of ['dragenter', 'dragover']) drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add('over'); });
for (const type of ['dragleave', 'drop']) drop.addEventListener(type, () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => { e.preventDefault(); classify(e.dataTransfer.files[0]); });
document.addEventListener('paste', (e) => {
  const item = [...e.clipboardData.items].find((i) => i.kind === 'file');
  if (item) classify(item.getAsFile());
});

fetch('ready').then(async (r) => {
  const body = await r.json().catch(() => ({}));
  const dot = $('dot'), status = $('status-text');
  if (r.ok && body.model) {
    dot.className = 'dot ok';
    status.textContent = 'ready · ' + body.model.arch + ' on ' + body.model.device;
    meta.textContent = body.model.classes.length + ' classes · ' + body.model.image_size + '×' + body.model.image_size + ' input';
    if (!bars.children.length) showBars(Object.fromEntries(body.model.classes.map((c) => [c, 0])), null);
  } else {
    dot.className = 'dot bad';
    status.textContent = (body.error && body.error.message) || 'not ready';
  }
}).catch(() => { $('status-text').textContent = 'unreachable'; });
`;

const BODY = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>torchdog</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
  <div>
    <h1>torch<span>dog</span></h1>
    <p class="tagline">Image classification with ResNet18 on LibTorch</p>
  </div>
  <div class="status"><span id="dot" class="dot"></span><span id="status-text">connecting…</span></div>
</header>
<main>
  <label id="drop" class="drop" for="file">
    <input id="file" type="file" accept="image/*" aria-label="Choose an image">
    <span class="hint"><strong>Drop an image here</strong>or paste one, or<br><span class="button">Choose a file</span></span>
    <img id="preview" alt="The chosen image" hidden>
    <span id="caption" class="caption" hidden></span>
  </label>
  <section id="result" class="result" aria-live="polite">
    <h2>Prediction</h2>
    <p id="verdict" class="verdict"><span class="placeholder">—</span></p>
    <p id="confidence" class="confidence">Choose an image to classify it.</p>
    <ul id="bars" class="bars"></ul>
    <div id="error" class="error" role="alert" hidden></div>
    <p id="meta" class="meta"></p>
  </section>
</main>
<footer>
  <span>API: <code>curl -F data=@photo.jpg HOST/predict</code></span>
  <a href="health">health</a><a href="ready">ready</a><a href="metrics">metrics</a>
</footer>
<script>${SCRIPT}</script>
</body>
</html>
`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
}

export const PAGE_HTML = BODY;

export const PAGE_HEADERS: Record<string, string> = {
  'Content-Security-Policy': [
    "default-src 'none'",
    `script-src ${sha256(SCRIPT)}`,
    `style-src ${sha256(STYLE)}`,
    "img-src 'self' blob: data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};
