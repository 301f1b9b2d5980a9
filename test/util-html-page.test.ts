// The frame both HTML reports share: escaping, the policy that lets nothing
// load or run, and the shared CSS ahead of the page's own.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { escapeHtml, htmlPage } from '../src/util/html-page.ts';

test('escapeHtml escapes the five characters that can end text or an attribute', () => {
  assert.equal(escapeHtml(`<a href="x">Tom & 'Jerry'</a>`), '&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;');
  assert.equal(escapeHtml('plain'), 'plain');
});

test('htmlPage: escaped title, a policy that forbids scripts and fetches, shared rules before the page rules', () => {
  const page = htmlPage('<b>run</b>', '.mine { color: red; }\n', '<p>hi</p>\n');
  assert.match(page, /^<!DOCTYPE html>\n<html lang="en">/);
  assert.ok(page.includes('<title>&lt;b&gt;run&lt;/b&gt;</title>'));
  assert.ok(page.includes(`content="default-src 'none'; style-src 'unsafe-inline'"`));
  const style = /<style>([\s\S]*)<\/style>/.exec(page)![1]!;
  for (const rule of ['* { box-sizing: border-box; }', 'th.name, td.name { text-align: left; }', 'svg .axis {', 'footer {']) {
    assert.ok(style.includes(rule), rule);
  }
  assert.ok(style.indexOf('footer {') < style.indexOf('.mine {'), 'the page can refine the shared rules');
  assert.match(page, /<body>\n<p>hi<\/p>\n<footer>Written by torchdog\.<\/footer>\n<\/body>\n<\/html>\n$/);
});

test("a page's one script is allowed by its SHA-256 and nothing else; without one, no script may run", async () => {
  const { createHash } = await import('node:crypto');
  const plain = htmlPage('t', '', '<p>x</p>');
  assert.doesNotMatch(plain, /script-src|<script>/);
  const script = 'document.title = "sorted";';
  const page = htmlPage('t', '', '<p>x</p>', script);
  const hash = createHash('sha256').update(script).digest('base64');
  assert.ok(page.includes(`content="default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${hash}'"`));
  assert.ok(page.includes(`<script>${script}</script>`));
});
