// The frame of torchdog's self-contained HTML pages (training report, drift
// report): inline CSS only, and a Content-Security-Policy that lets nothing
// load or run, so a page opens from disk or a bucket and a hostile class name
// cannot execute.

const kEscapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => kEscapes[c] ?? c);
}

/** A whole page around `body` (already HTML); `title` is escaped here. */
export function htmlPage(title: string, style: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${escapeHtml(title)}</title>
<style>${style}</style>
</head>
<body>
${body}<footer>Written by torchdog.</footer>
</body>
</html>
`;
}
