// The page at GET /, in headless Chromium (Debian's /usr/bin/chromium):
// choose an image, see it, see the class and a bar per class.
import { after, before, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import type { Classifier } from '../src/index.ts';
import { createApp, startServer, type RunningServer } from '../src/serve/index.ts';
import { encodeImage } from './helpers/images.ts';
import { testClassifier } from './helpers/serve.ts';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install -y chromium, or TORCHDOG_WITH_BROWSER=1 scripts/setup.sh)`;
/** Where the screenshots go; look at them after a change to the page. */
const SHOTS = process.env.TORCHDOG_SCREENSHOTS ?? join(tmpdir(), 'torchdog-screenshots');

let classifier: Classifier;
let server: RunningServer;
let context: BrowserContext;
let profile: string;

before(async () => {
  if (skip) return;
  const { chromium } = await import('playwright-core');
  classifier = await testClassifier();
  const app = createApp({ classifier, logger: null });
  server = await startServer(app, { port: 0, host: '127.0.0.1', logger: () => {} });
  profile = await mkdtemp(join(tmpdir(), 'torchdog-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
    viewport: { width: 1000, height: 720 },
  });
  await mkdir(SHOTS, { recursive: true });
});

after(async () => {
  if (skip) return;
  await context?.close();
  await server?.close();
  await classifier?.dispose();
  if (profile) await rm(profile, { recursive: true, force: true });
});

async function openPage(): Promise<Page> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  await page.goto(server.url);
  await page.waitForFunction(() => document.getElementById('status-text')?.textContent?.startsWith('ready'));
  (page as Page & { problems: string[] }).problems = problems;
  return page;
}

test('choose an image: the preview and the class with its bars appear', { skip }, async () => {
  const page = await openPage();
  assert.equal(await page.title(), 'torchdog');
  assert.match((await page.textContent('#status-text'))!, /^ready · resnet18 on cpu/);
  await page.screenshot({ path: join(SHOTS, 'page-empty.png') });

  const image = await encodeImage('jpeg', 640, 480, 7);
  const expected = await classifier.predict(image);
  await page.setInputFiles('#file', { name: 'lunch.jpg', mimeType: 'image/jpeg', buffer: image });
  await page.waitForFunction(() => !document.getElementById('result')!.classList.contains('busy') && document.getElementById('verdict')!.textContent !== '…');
  assert.equal(await page.textContent('#verdict'), expected.category);
  assert.match((await page.textContent('#confidence'))!, /^\d+(\.\d)?% probability · \d+ ms$/);
  assert.equal(await page.locator('#bars li').count(), 2);
  assert.equal(await page.locator('#bars li.top .name').textContent(), expected.category);
  assert.equal(await page.isVisible('#preview'), true);
  const shown = await page.$eval('#preview', (img) => (img as HTMLImageElement).naturalWidth);
  assert.equal(shown, 640);
  assert.equal(await page.isVisible('#error'), false);
  await page.waitForTimeout(400); // let the bars finish growing
  await page.screenshot({ path: join(SHOTS, 'page-result.png') });
  assert.deepEqual((page as Page & { problems: string[] }).problems, []);
  await page.close();
});

test('drop an image on the page; a file that is not an image shows the error', { skip }, async () => {
  const page = await openPage();
  const png = await encodeImage('png', 200, 150, 2);
  const expected = await classifier.predict(png);
  await page.evaluate(async (bytes) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([new Uint8Array(bytes)], 'dropped.png', { type: 'image/png' }));
    document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }, [...png]);
  await page.waitForFunction((c) => document.getElementById('verdict')!.textContent === c, expected.category);

  await page.setInputFiles('#file', { name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not a picture at all') });
  await page.waitForSelector('#error:not([hidden])');
  assert.match((await page.textContent('#error'))!, /^ERR_UNSUPPORTED_MEDIA_TYPE /);
  assert.equal(await page.textContent('#verdict'), '—');
  await page.screenshot({ path: join(SHOTS, 'page-error.png') });
  await page.close();
});
