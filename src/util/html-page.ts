// The frame of torchdog's self-contained HTML pages (training report, drift
// report): inline CSS only, and a Content-Security-Policy that lets nothing
// load or run, so a page opens from disk or a bucket and a hostile class name
// cannot execute. The frame carries the look the pages share; each page adds
// its own rules after it. A page that needs a script (a sortable table) gives
// it whole: the policy then allows that script alone, by its hash.
import { createHash } from 'node:crypto';

const kEscapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => kEscapes[c] ?? c);
}

/** The rules every page has: palette, type, tables, chart frames and axes, notes, the footer. */
const kBaseStyle = `
:root { color-scheme: light; --ink: #1d2330; --muted: #5c6577; --rule: #d9dde5; --panel: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1180px; padding: 24px 28px 40px; color: var(--ink); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 22px; margin: 0 0 2px; overflow-wrap: anywhere; }
h2 { font-size: 16px; margin: 28px 0 10px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--rule); text-align: right; white-space: nowrap; }
th { font-weight: 600; }
th.name, td.name { text-align: left; }
.scroll { overflow: auto; max-width: 100%; }
figure { margin: 0; border: 1px solid var(--rule); border-radius: 6px; min-width: 0; }
figure svg { display: block; width: 100%; height: auto; }
svg text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: var(--muted); }
svg .grid { stroke: #eceef2; stroke-width: 1; }
svg .axis { stroke: #9aa1ae; stroke-width: 1; }
svg .legend text { fill: var(--ink); }
.legend-note, .empty { color: var(--muted); font-size: 12px; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
`;

/**
 * A whole page around `body` (already HTML); `title` is escaped here. `style`
 * is the page's own CSS, after the shared rules so that it can refine them.
 * `script`, when given, is the page's one inline script (trusted code, not
 * data), allowed by its SHA-256 and nothing else.
 */
export function htmlPage(title: string, style: string, body: string, script?: string): string {
  const scriptSource = script === undefined ? '' : `; script-src 'sha256-${createHash('sha256').update(script).digest('base64')}'`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'${scriptSource}">
<title>${escapeHtml(title)}</title>
<style>${kBaseStyle}${style}</style>
</head>
<body>
${body}<footer>Written by torchdog.</footer>${script === undefined ? '' : `\n<script>${script}</script>`}
</body>
</html>
`;
}
