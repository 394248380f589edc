// Pays local-Alipay payment links in a real headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core), as a buyer would: open the
// link, look at the cashier, click pay, land on the merchant's return_url.
// Used by internal/localalipay/browser_test.go.
//
// stdin:  {"runs": [{"url": "...", "returnPrefix": "...", "mobile": false}, ...]}
// stdout: {"results": [{finalUrl, title, sawQR, marker, payVisible} | {error, finalUrl, text}]}
//         One browser is launched for all runs; each run gets a fresh context
//         (a phone's viewport, user agent and touch when mobile).
import { chromium } from 'playwright-core';

const EXECUTABLE = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const TIMEOUT_MS = 20000;

const PHONE = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 3,
  isMobile: true,
  hasTouch: true,
  userAgent:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1',
};
const DESKTOP = { viewport: { width: 1280, height: 800 } };

async function pay(browser, run) {
  const context = await browser.newContext(run.mobile ? PHONE : DESKTOP);
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  try {
    const resp = await page.goto(run.url, { waitUntil: 'load' });
    if (!resp || resp.status() !== 200) {
      throw new Error(`cashier answered HTTP ${resp && resp.status()}`);
    }
    // The page is server-rendered: what is not there after load never comes.
    const banner = page.locator('#local-banner');
    const marker = (await banner.count()) > 0 ? (await banner.innerText()).trim() : '';
    // A QR code counts when it is visible and its PNG actually decoded.
    const qr = page.locator('img#qr');
    const sawQR =
      (await qr.count()) > 0 &&
      (await qr.isVisible()) &&
      (await qr.evaluate(img => img.complete && img.naturalWidth > 0));
    const button = page.locator('button#pay');
    const payVisible = await button.isVisible();
    if (!payVisible) throw new Error('no visible button#pay on the cashier page');
    await Promise.all([
      page.waitForURL(u => u.href.startsWith(run.returnPrefix), { waitUntil: 'load' }),
      run.mobile ? button.tap() : button.click(),
    ]);
    return { finalUrl: page.url(), title: await page.title(), sawQR, marker, payVisible };
  } catch (err) {
    let text = '';
    try {
      text = (await page.locator('body').innerText()).slice(0, 1000);
    } catch {}
    return { error: String(err && err.message || err).slice(0, 1000), finalUrl: page.url(), text };
  } finally {
    await context.close();
  }
}

let input = '';
for await (const chunk of process.stdin) input += chunk;
const { runs } = JSON.parse(input);
const browser = await chromium.launch({
  executablePath: EXECUTABLE,
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-proxy-server',
  ],
});
const results = [];
try {
  for (const run of runs) results.push(await pay(browser, run));
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify({ results }));
