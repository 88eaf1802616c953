// The single-file HTML report of a real run, opened in headless Chromium (Debian's package, driven
// by playwright-core): the tables and every image must render with a non-zero size, offline.
// The run is configs/smoke.yaml on 20 real CIFAR-10 images per class, through the CLI.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { decode } from 'fast-png';

const CHROMIUM = process.env.PASSEURS_CHROMIUM ?? '/usr/bin/chromium';
const overrides = ['--set', `mirror=${process.env.PASSEURS_TEST_CIFAR}`, '--set', 'data.sources=[mirror]', '--set', 'subset=20'];
const cli = (args: string[], cacheDir: string) =>
  execFileSync(process.execPath, ['dist/pipeline/cli.js', ...args, '--cache-dir', cacheDir, ...overrides], { encoding: 'utf8', timeout: 600_000 });

describe('the HTML report in a browser', () => {
  let directory: string;
  let htmlPath: string;
  let browser: Browser;

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'passeurs-html-'));
    const cacheDir = join(directory, 'cache');
    cli(['run', 'configs/smoke.yaml'], cacheDir);
    htmlPath = join(directory, 'report.html');
    cli(['report', 'configs/smoke.yaml', '--format', 'html', '--out', htmlPath], cacheDir);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'] });
  }, 600_000);
  afterAll(async () => {
    await browser?.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('renders the tables and every image with a non-zero size, loading nothing from outside the file', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    await page.goto(pathToFileURL(htmlPath).href, { waitUntil: 'load' });

    const outside = requested.filter((url) => !url.startsWith('data:') && url !== pathToFileURL(htmlPath).href);
    expect(outside).toEqual([]);

    for (const table of ['table.compact', 'table.full', 'table.instances', 'table.runs']) {
      const box = await page.locator(table).boundingBox();
      expect(box, table).not.toBeNull();
      expect(box!.width, table).toBeGreaterThan(100);
      expect(box!.height, table).toBeGreaterThan(20);
    }
    // The baseline, six plain steps (toward and away, k = 1..3), six attacks (three methods at a
    // budget of 2, both directions) and the weighted difference at that budget, both directions.
    expect(await page.locator('table.compact tbody tr').count()).toBe(15);
    expect(await page.locator('table.compact tbody tr').first().innerText()).toMatch(/^clean \(k = 0\)/);

    const images = await page.locator('img').evaluateAll((elements) =>
      (elements as HTMLImageElement[]).map((image) => ({ alt: image.alt, complete: image.complete, naturalWidth: image.naturalWidth, naturalHeight: image.naturalHeight })),
    );
    expect(images.map((image) => image.alt)).toEqual([
      'Test accuracy of the fair model against the number of perturbation steps k',
      'Test accuracy of the fair model against the pixel budget',
      'Training images: original, perturbed, signed difference',
    ]);
    for (const image of images) {
      expect(image.complete, image.alt).toBe(true);
      expect(image.naturalWidth, image.alt).toBeGreaterThan(0);
      expect(image.naturalHeight, image.alt).toBeGreaterThan(0);
    }
    for (const image of await page.locator('img').all()) {
      const box = await image.boundingBox();
      expect(box!.width).toBeGreaterThan(200);
      expect(box!.height).toBeGreaterThan(100);
    }

    // PASSEURS_HTML_SCREENSHOT keeps the screenshot, to look at.
    const screenshot = process.env.PASSEURS_HTML_SCREENSHOT ?? join(directory, 'report.png');
    await page.screenshot({ path: screenshot, fullPage: true, timeout: 120_000 });
    const png = decode(readFileSync(screenshot));
    expect(png.width).toBe(1100);
    expect(png.height).toBeGreaterThan(2000);
    expect(statSync(screenshot).size).toBeGreaterThan(50_000);
    await page.close();
  });
});
