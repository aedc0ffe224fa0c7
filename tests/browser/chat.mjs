// The chat page in a real browser (tests/integration/browser.rs runs it):
// headless Chromium driven by playwright-core, against a server at BASE
// whose room already holds the TCP member `tcpuser`.
//
//   node tests/browser/chat.mjs BASE [CHROMIUM]
//   node tests/browser/chat.mjs --probe [CHROMIUM]   (whether it starts)
//
// What it does, each wait bounded (the test's TCP members act in between):
//  1. loads BASE/?name=webby: `* webby joined` and `joined as webby`;
//  2. sees `[tcpuser] hello from tcp`, sends `hi from browser`;
//  3. sees a member named `<img/src=x/onerror=alert(1)>` join and send
//     markup: shown as text, no element made, no dialog;
//  4. a second page asks for `webby` too: `! name_taken: ...`, then joins
//     as `webby2` on the same connection, and `/list` lists everyone;
//  5. the first page says `bye` once it has webby2's last message; then
//     the test stops the server and the page shows `* disconnected (CODE)`.
// Exit 0 and `ok` on stdout when all held; 1 with the reason and the
// page's log otherwise; 77 when Chromium cannot be launched here.
import { chromium } from 'playwright-core';

const [base, executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
if (!base) {
  console.error('usage: node chat.mjs BASE|--probe [CHROMIUM]');
  process.exit(2);
}
const STEP = 10_000; // ms for any one wait
const EVIL = '<img/src=x/onerror=alert(1)>';
const MARKUP = '<script>alert(2)</script><img src=x onerror=alert(3)>';

const logOf = (page) => page.$$eval('#log li', (lis) => lis.map((li) => li.textContent));

async function waitLine(page, text) {
  try {
    await page.waitForFunction(
      (t) => [...document.querySelectorAll('#log li')].some((li) => li.textContent === t),
      text, { timeout: STEP, polling: 20 });
  } catch (e) {
    throw new Error(`no log line ${JSON.stringify(text)}; log: ${JSON.stringify(await logOf(page))}`);
  }
}

async function waitStatus(page, text) {
  try {
    await page.waitForFunction((t) => document.getElementById('status').textContent === t,
      text, { timeout: STEP, polling: 20 });
  } catch (e) {
    const now = await page.$eval('#status', (s) => s.textContent);
    throw new Error(`#status is ${JSON.stringify(now)}, not ${JSON.stringify(text)}`);
  }
}

async function type(page, form, input, text) {
  await page.fill(input, text);
  await page.$eval(form, (f) => f.requestSubmit());
}

const args = ['--headless=new'];
if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
let browser;
try {
  browser = await chromium.launch({ executablePath, headless: true, args, timeout: 30_000 });
} catch (e) {
  console.log(`cannot launch ${executablePath}: ${String(e.message).split('\n')[0]}`);
  process.exit(77);
}
if (base === '--probe') {
  await browser.close();
  console.log('ok');
  process.exit(0);
}

const dialogs = [];
const failures = [];
const open = async (query) => {
  const page = await browser.newPage();
  page.setDefaultTimeout(STEP);
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));
  await page.goto(new URL(query, base).href, { timeout: STEP });
  return page;
};

let code = 0;
try {
  const web = await open('/?name=webby');
  await waitLine(web, '* webby joined');
  await waitStatus(web, 'joined as webby');

  await waitLine(web, '[tcpuser] hello from tcp');
  await type(web, '#send', '#text', 'hi from browser');

  await waitLine(web, `* ${EVIL} joined`);
  await waitLine(web, `[${EVIL}] ${MARKUP}`);
  const made = await web.$$eval('#log img, #log script, #log b', (els) => els.length);
  if (made !== 0) throw new Error(`${made} element(s) made from peer data`);

  const second = await open('/?name=webby');
  const taken = await second.waitForFunction(
    () => [...document.querySelectorAll('#log li')].find((li) => li.textContent.startsWith('! name_taken: ')),
    null, { timeout: STEP, polling: 20 }).catch(() => null);
  if (!taken) throw new Error(`no name_taken line; log: ${JSON.stringify(await logOf(second))}`);
  if (!(await second.isVisible('#join'))) throw new Error('#join hidden after name_taken');
  await type(second, '#join', '#name', 'webby2');
  await waitStatus(second, 'joined as webby2');
  await waitLine(web, '* webby2 joined');
  await type(second, '#send', '#text', '/list');
  await waitLine(second, `* users: ${EVIL}, tcpuser, webby, webby2`);
  await type(second, '#send', '#text', '<b>bold</b> from webby2');
  await waitLine(web, '[webby2] <b>bold</b> from webby2');
  await type(web, '#send', '#text', 'bye');
  const gone = await web.waitForFunction(
    () => [...document.querySelectorAll('#log li')].some((li) => /^\* disconnected \(\d+\)$/.test(li.textContent)),
    null, { timeout: STEP, polling: 20 }).catch(() => null);
  if (!gone) throw new Error(`no disconnected line; log: ${JSON.stringify(await logOf(web))}`);

  if (dialogs.length) throw new Error(`dialogs opened: ${JSON.stringify(dialogs)}`);
  if (failures.length) throw new Error(failures.join('; '));
  console.log('ok');
} catch (e) {
  console.log(`FAILED: ${e.message}`);
  code = 1;
} finally {
  await browser.close().catch(() => {});
}
process.exit(code);
