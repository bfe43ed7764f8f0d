// Drives the viewer page of `neuropos viz --html` in the system's headless Chromium through the
// page's own controls and checks what it shows against the CLI: the accuracy at the slider's
// level against `neuropos eval --prune`, the predicted class of a test image against
// `neuropos predict` on that image after `neuropos prune`. Run by scripts/viewer-check.sh.
//
// node check.mjs --bin NEUROPOS --checkpoint DIR --page FILE.html --levels 0,50,80,95
//   --test-limit N --shots DIR [--chromium PATH]
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

function args() {
  const out = {};
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i += 2) {
    if (!a[i].startsWith('--') || a[i + 1] === undefined) throw new Error(`bad argument ${a[i]}`);
    out[a[i].slice(2)] = a[i + 1];
  }
  for (const k of ['bin', 'checkpoint', 'page', 'levels', 'test-limit', 'shots']) {
    if (!out[k]) throw new Error(`--${k} is required`);
  }
  return out;
}

const opt = args();
const levels = opt.levels.split(',').map(Number);
const failures = [];
function check(what, shown, expected) {
  const ok = shown === expected;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}: page ${shown}, CLI ${expected}`);
  if (!ok) failures.push(what);
}

function neuropos(...a) {
  return execFileSync(opt.bin, a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

// The MNIST test image #i as a grayscale PNG, straight from the vendored IDX file (so the page's
// index and pixels are checked too).
const testImages = zlib.gunzipSync(fs.readFileSync('data/mnist/t10k-images-idx3-ubyte.gz'));
// CRC-32 of PNG chunks (zlib.crc32 needs a newer Node than some machines have).
const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function png(i, file) {
  const side = 28;
  const px = testImages.subarray(16 + i * side * side, 16 + (i + 1) * side * side);
  const raw = Buffer.alloc(side * (side + 1));
  for (let y = 0; y < side; y++) {
    raw[y * (side + 1)] = 0; // filter: none
    px.copy(raw, y * (side + 1) + 1, y * side, (y + 1) * side);
  }
  const chunk = (type, body) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const tb = Buffer.concat([Buffer.from(type, 'ascii'), body]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(tb));
    return Buffer.concat([len, tb, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale
  fs.writeFileSync(file, Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]));
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'neuropos-viewer-'));
function cliAccuracy(percent, rank) {
  const rows = JSON.parse(neuropos('eval', opt.checkpoint, '--prune', String(percent), '--rank', rank,
    '--test-limit', opt['test-limit'], '--format', 'json'));
  return rows[0].accuracy.toFixed(4);
}
function cliPredicted(image, percent, rank) {
  const file = path.join(work, `test-${image}.png`);
  png(image, file);
  let model = opt.checkpoint;
  if (percent > 0) {
    model = path.join(work, `pruned-${rank}-${percent}`);
    if (!fs.existsSync(model)) {
      neuropos('prune', opt.checkpoint, '--percent', String(percent), '--rank', rank, '--out', model);
    }
  }
  return String(JSON.parse(neuropos('predict', model, file, '--preprocess', 'none', '--format', 'json'))[0].class);
}

async function session(label, flags, query) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'neuropos-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: opt.chromium || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1400, height: 850 },
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', ...flags],
  });
  try {
    const page = context.pages()[0] || (await context.newPage());
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto('file://' + path.resolve(opt.page) + query);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
    const renderer = await page.evaluate(() => window.neuroposViewer.renderer);
    console.log(`-- ${label}: drawn with ${renderer}`);
    const painted = await page.evaluate(() => window.neuroposViewer.paintedPixels());
    const share = painted.painted / painted.total;
    console.log(`${share > 0.02 ? 'ok  ' : 'FAIL'} canvas: ${painted.painted} of ${painted.total} pixels painted`);
    if (!(share > 0.02)) failures.push(`${label}: blank canvas`);
    check(`${label}: neurons outside the default view`, await page.evaluate(() => window.neuroposViewer.outside()), 0);

    // A digit's average through its button.
    await page.click('#digits button[data-input="3"]');
    check(`${label}: true label of the average 3`, await page.textContent('#true-label'), '3');

    // A single test image through the index box.
    const image = 7;
    await page.fill('#image-index', String(image));
    await page.click('#show-image');
    check(`${label}: test image #${image} shown`, await page.textContent('#input-name'), `test image #${image}`);
    check(`${label}: predicted class of #${image} at 0 %`, await page.textContent('#predicted'),
      cliPredicted(image, 0, 'distance'));

    // The slider by keyboard, as a user moves it; then the other ranking from its menu.
    for (const rank of ['distance', 'effective']) {
      await page.selectOption('#rank', { label: rank === 'distance' ? 'distance (the paper: longest wires first)' : 'effective |m·w| (mask-aware)' });
      const slider = page.locator('#prune-slider');
      await slider.focus();
      await page.keyboard.press('Home');
      for (let k = 0; k < levels.length; k++) {
        if (k > 0) await page.keyboard.press('ArrowRight');
        const level = Number(await page.textContent('#prune-level'));
        check(`${label}: slider stop ${k} (${rank})`, level, levels[k]);
        if (k === 0 || levels[k] < 50) continue;
        check(`${label}: accuracy at ${levels[k]} % (${rank})`, await page.textContent('#prune-accuracy'),
          cliAccuracy(levels[k], rank));
        check(`${label}: predicted class of #${image} at ${levels[k]} % (${rank})`,
          await page.textContent('#predicted'), cliPredicted(image, levels[k], rank));
      }
    }
    // Something must still be drawn at the last level, and hovering an output neuron names it.
    const after = await page.evaluate(() => window.neuroposViewer.paintedPixels());
    if (!(after.painted / after.total > 0.01)) failures.push(`${label}: blank canvas after pruning`);
    await page.locator('#prune-slider').focus();
    await page.keyboard.press('Home');
    const target = await page.evaluate(() => {
      const v = window.neuroposViewer;
      return v.screenOf(v.layers - 1, 4);
    });
    await page.mouse.move(target.x - 20, target.y - 20);
    await page.mouse.move(target.x, target.y, { steps: 4 });
    try {
      await page.waitForSelector('#tooltip:not([hidden])', { timeout: 5000 });
    } catch (e) {
      await page.screenshot({ path: path.join(opt.shots, `viewer-${label}-hover.png`) });
      throw new Error(`no tooltip when hovering output neuron 4 at (${target.x}, ${target.y})`);
    }
    const tip = await page.textContent('#tooltip');
    check(`${label}: hover on output neuron 4`, tip.split('\n')[0], 'output, neuron #4');
    const shot = path.join(opt.shots, `viewer-${label}.png`);
    await page.screenshot({ path: shot });
    console.log(`screenshot ${shot}`);
    if (errors.length) {
      console.log(`FAIL ${label}: page errors:\n  ${errors.join('\n  ')}`);
      failures.push(`${label}: page errors`);
    }
    return renderer;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

fs.mkdirSync(opt.shots, { recursive: true });
// The 2-D canvas path, forced; then whatever the browser gives with SwiftShader allowed
// (WebGL where it works).
await session('canvas2d', [], '?renderer=canvas2d');
const second = await session('auto', ['--enable-unsafe-swiftshader'], '');
fs.rmSync(work, { recursive: true, force: true });
if (failures.length) {
  console.log(`\n${failures.length} check(s) failed:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log(`\nviewer checks passed (second session drawn with ${second})`);
