// The web console in a real browser (Debian's Chromium, headless), against a warmline the
// Rust test `the_console_pages_work_in_a_real_browser` started and seeded. It passes the
// addresses, keys and ids in the environment. Screenshots of every page, at 1280 and 390 px
// wide, go to SCREENSHOT_DIR.

import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through the Rust test`);
  return value;
}

const base = env('WARMLINE_URL');
const keys = { supervisor: env('SUPERVISOR_KEY'), alice: env('ALICE_KEY'), bob: env('BOB_KEY'), frontend: env('FRONTEND_KEY') };
const seededTransfer = env('SEEDED_TRANSFER');
const cancelledTransfer = env('CANCELLED_TRANSFER');
const shots = env('SCREENSHOT_DIR');
mkdirSync(shots, { recursive: true });

const TIMEOUT = 15000;
const results = [];
const pageErrors = [];

async function step(name, body) {
  const started = Date.now();
  try {
    await body();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}: ${e.stack || e}`);
    throw e;
  }
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** Waits until `locator` shows `text` (a string or a RegExp). */
async function shows(locator, text, timeout = TIMEOUT) {
  // A tab in the background gets no animation frames, which Playwright's waits rely on.
  await locator.page().bringToFront();
  await locator.filter({ hasText: text }).first().waitFor({ state: 'visible', timeout });
}

/** A screenshot of the whole page at 1280 px and at 390 px wide. */
async function shot(page, name) {
  for (const [width, height] of [[1280, 900], [390, 844]]) {
    await page.setViewportSize({ width, height });
    await page.waitForTimeout(150);
    // At 390 px nothing may stick out sideways but what scrolls on purpose (tables, the replay).
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    check(overflow <= 1, `${name} is ${overflow} px wider than a ${width} px window`);
    await page.screenshot({ path: join(shots, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

const profile = mkdtempSync(join(tmpdir(), 'warmline-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    // A microphone that exists; whether the page may use it is the permission's business.
    '--use-fake-device-for-media-stream',
  ],
  viewport: { width: 1280, height: 900 },
});
context.setDefaultTimeout(TIMEOUT);

/** A tab of the console signed in with `key` (each tab keeps its own key), at `route`. */
async function signedIn(key, route) {
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${route}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`     console error on ${route}: ${m.text()}`);
  });
  await page.goto(`${base}/console/${route}`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#who').filter({ hasText: 'Signed in as' }).waitFor();
  return page;
}

let exitCode = 1;
try {
  await step('the sign-in box asks for a key once, and a wrong key is refused', async () => {
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`sign-in: ${e.message}`));
    await page.goto(`${base}/console`);
    await page.getByLabel('API key').waitFor();
    await shot(page, 'sign-in');
    await page.getByLabel('API key').fill('wl_abcdefghijkm_wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await shows(page.getByRole('alert'), 'Not authenticated');
    await page.getByLabel('API key').fill(keys.supervisor);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await shows(page.locator('#who'), 'Signed in as supervisor');
    // Kept for the tab: a reload needs no new sign-in.
    await page.reload();
    await shows(page.locator('#who'), 'Signed in as supervisor');
    await page.close();
  });

  const sup = await signedIn(keys.supervisor, '#/supervisor/queue');

  await step('the review queue lists the ended transfers', async () => {
    await sup.locator(`tr[data-transfer-id="${seededTransfer}"]`).waitFor();
    await sup.locator(`tr[data-transfer-id="${cancelledTransfer}"]`).waitFor();
    await shot(sup, 'review-queue');
  });

  await step('search finds the call, with the matched words highlighted', async () => {
    await sup.getByRole('link', { name: 'History' }).click();
    await sup.getByLabel('Search transcripts and summaries').fill('blender');
    await sup.getByRole('button', { name: 'Search' }).click();
    await shows(sup.locator('#history-results td.snippet mark'), /blender/i);
    const rows = await sup.locator('#history-results tbody tr').count();
    check(rows === 1, `one call mentions a blender, the page lists ${rows}`);
    await shot(sup, 'history-search');
  });

  await step("the call's timeline", async () => {
    await sup.getByRole('link', { name: 'Jane Doe' }).click();
    await shows(sup.locator('#timeline td'), 'transfer.completed');
    await shows(sup.locator('#timeline td'), 'participant.joined');
    await shot(sup, 'call-timeline');
  });

  await step('the replay is drawn: rooms as lanes, states on one time axis, the transcript beside', async () => {
    await sup.getByRole('link', { name: /Replay: agent_alice → agent_bob/ }).click();
    const picture = sup.locator('svg.replay-picture');
    await picture.waitFor();
    check((await picture.getAttribute('aria-labelledby')) === 'replay-title', 'the picture has a title');
    const lanes = await picture.locator('g.lane').count();
    check(lanes === 2, `two rooms, two lanes; drawn: ${lanes}`);
    const states = await picture.locator('g.phase').evaluateAll((gs) => gs.map((g) => g.dataset.state));
    check(JSON.stringify(states) === JSON.stringify(['initiated', 'briefing', 'connecting', 'completed']), `states: ${states}`);
    const bars = await picture.locator('g.presence').count();
    check(bars >= 5, `a bar per session in each room; drawn: ${bars}`);
    await shows(sup.locator('.replay-side .transcript li'), 'blender');
    await shot(sup, 'transfer-replay');
  });

  await step('a review is submitted on the scorecard, and leaves the queue', async () => {
    await sup.getByLabel(/Briefed the receiving agent fully/).fill('4');
    await sup.getByLabel(/Showed empathy for the caller/).fill('5');
    await sup.getByLabel('Notes').fill('Clear briefing, quick hand-off.');
    await sup.getByRole('button', { name: 'Submit review' }).click();
    await shows(sup.locator('#review-saved'), 'Review saved: 83.3 / 100');
    await shows(sup.locator('#review-list'), '83.3 / 100');
    await shot(sup, 'transfer-review');
    await sup.getByRole('link', { name: 'Review queue' }).click();
    await sup.locator(`tr[data-transfer-id="${cancelledTransfer}"]`).waitFor();
    const still = await sup.locator(`tr[data-transfer-id="${seededTransfer}"]`).count();
    check(still === 0, 'the reviewed transfer has left the queue');
  });

  await step('the stats dashboard draws its charts', async () => {
    await sup.getByRole('link', { name: 'Stats' }).click();
    await sup.locator('svg#chart-transfers').waitFor();
    const bars = await sup.locator('svg#chart-transfers g.bar rect').count();
    check(bars === 7, `a bar per day of the week; drawn: ${bars}`);
    await sup.locator('svg#chart-rates polyline').first().waitFor({ state: 'attached' });
    await shows(sup.locator('.figure'), 'transfers');
    const days = await sup.locator('#stats-series tbody tr').count();
    check(days === 7, `a row per day; shown: ${days}`);
    await shot(sup, 'stats');
  });

  // --- A call, taken and transferred while the caller watches ----------------------------------
  const caller = await signedIn(keys.frontend, '#/caller');
  const alice = await signedIn(keys.alice, '#/agent');
  const bob = await signedIn(keys.bob, '#/agent');
  let transferId = null;

  await step('the caller starts a call and waits for an agent', async () => {
    await caller.getByLabel('Your name').fill('Ada Lovelace');
    await caller.getByLabel('Phone (optional)').fill('+44 20 7946 0000');
    await caller.getByLabel('What is the call about?').fill('My invoice was charged twice');
    await caller.getByRole('button', { name: 'Start the call' }).click();
    await shows(caller.locator('#caller-status'), 'Waiting for an agent');
    await shows(caller.locator('#caller-live'), 'Live updates on.');
    await shot(caller, 'caller-waiting');
  });

  await step('agent A takes the call; the caller is told by SSE', async () => {
    await alice.bringToFront();
    await shows(bob.locator('#agent-live'), 'Live updates on.');
    await alice.getByRole('button', { name: 'Take call from Ada Lovelace' }).click();
    await shows(alice.locator('#agent-call-caller'), 'Ada Lovelace');
    await shows(caller.locator('#caller-status'), 'With agent_alice');
  });

  await step('agent A types and pastes transcript lines', async () => {
    await alice.bringToFront();
    await alice.getByLabel('Speaker', { exact: true }).selectOption('caller');
    await alice.getByLabel('Line', { exact: true }).fill('I was charged twice for invoice 7781.');
    await alice.getByRole('button', { name: 'Add line' }).click();
    await shows(alice.locator('#agent-transcript li'), 'charged twice');
    await alice.getByText('Paste a transcript').click();
    await alice.getByLabel('Paste lines').fill('Agent: I can see both charges.\nCaller: Can you refund one of them?');
    await alice.getByRole('button', { name: 'Add pasted lines' }).click();
    await shows(alice.locator('#agent-transcript li'), 'refund one of them');
    const lines = await alice.locator('#agent-transcript li').count();
    check(lines === 3, `three lines; shown: ${lines}`);
    await shot(alice, 'agent-call');
  });

  await step('agent A starts a transfer to agent B from the agents list', async () => {
    await alice.bringToFront();
    await alice.getByLabel('Transfer to').selectOption('agent_bob');
    await alice.getByLabel('Reason (optional)').fill('Refunds are for billing');
    await alice.getByRole('button', { name: 'Start transfer' }).click();
    await shows(alice.locator('#agent-transfer-state'), 'State: initiated');
    await alice.locator('#agent-briefing .script').waitFor();
    await shows(caller.locator('#caller-status'), 'Please hold, you are being transferred');
  });

  await step('agent B gets the offer by SSE, with the summary', async () => {
    const offer = bob.locator('article.offer');
    await shows(offer, 'Transfer from agent_alice');
    await shows(offer.locator('.summary-text'), /\w/);
    transferId = await offer.getAttribute('data-transfer-id');
    await shot(bob, 'agent-offer');
  });

  await step("a refused action shows the server's problem", async () => {
    // Reviewing a transfer that has not ended is refused by the server, which says why.
    await sup.bringToFront();
    await sup.goto(`${base}/console/#/supervisor/transfer/${transferId}`);
    await sup.getByLabel(/Briefed the receiving agent fully/).fill('3');
    await sup.getByLabel(/Showed empathy for the caller/).fill('3');
    await sup.getByRole('button', { name: 'Submit review' }).click();
    const alert = sup.getByRole('alert');
    await alert.locator('.problem-title').waitFor();
    const text = await alert.innerText();
    check(/conflict|not|only/i.test(text) && text.length > 30, `the alert says why: ${text}`);
    console.log(`     the server said: ${text.split('\n')[0]}`);
    await shot(sup, 'refused-review');
  });

  await step('agent B accepts and sees the briefing: summary and script', async () => {
    await bob.bringToFront();
    await bob.locator('article.offer').getByRole('button', { name: 'Accept' }).click();
    await shows(bob.locator('#agent-transfer-state'), 'State: briefing');
    await shows(bob.locator('#agent-briefing .summary-text'), /\w/);
    await shows(bob.locator('#agent-briefing .script'), /\w/);
    check((await bob.locator('article.offer').count()) === 0, 'the offer is gone once accepted');
    await shows(alice.locator('#agent-transfer-state'), 'State: briefing');
    await shot(bob, 'agent-b-briefing');
    await shot(alice, 'agent-a-briefing');
  });

  await step('agent A completes; every side sees it; the caller is with agent B', async () => {
    await alice.bringToFront();
    await alice.getByRole('button', { name: 'Complete: hand the caller over' }).click();
    await shows(alice.locator('#agent-transfer-state'), 'State: completed');
    await shows(bob.locator('#agent-transfer-state'), 'State: completed');
    await bob.getByRole('button', { name: 'Join the caller' }).waitFor();
    await shows(caller.locator('#caller-status'), 'With agent_bob');
    await shot(caller, 'caller-with-agent-b');
    await shot(bob, 'agent-b-completed');
  });

  await step('an expired audio token is a clear message', async () => {
    await caller.bringToFront();
    // The service mints tokens for an hour; this one, swapped into its answer, ran out.
    const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const expired = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ exp: Math.floor(Date.now() / 1000) - 60, sub: 'Ada Lovelace' })}.c2lnbmF0dXJl`;
    await caller.route('**/v1/calls/*/join', async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, json: { ...(await response.json()), token: expired } });
    });
    await caller.getByRole('button', { name: 'Join the audio' }).click();
    await shows(caller.getByRole('alert'), 'Your audio pass has expired');
    await caller.unroute('**/v1/calls/*/join');
    await shot(caller, 'caller-token-expired');
  });

  await step('an unreachable LiveKit is a clear message', async () => {
    await caller.bringToFront();
    await context.grantPermissions(['microphone'], { origin: base });
    await caller.getByRole('button', { name: 'Join the audio' }).click();
    await shows(caller.getByRole('alert'), 'The audio server (LiveKit) cannot be reached', 30000);
    await shot(caller, 'caller-livekit-unreachable');
  });

  await step('a refused microphone is a clear message', async () => {
    await context.clearPermissions();
    const page = await signedIn(keys.bob, '#/agent');
    await page.getByRole('button', { name: /Open call with Ada Lovelace/ }).click();
    await page.getByRole('button', { name: 'Join the call audio' }).click();
    await shows(page.getByRole('alert'), 'The microphone is blocked', 30000);
    await shot(page, 'agent-microphone-refused');
  });

  check(pageErrors.length === 0, `the pages threw:\n${pageErrors.join('\n')}`);
  exitCode = 0;
} catch (e) {
  console.log(`\nbrowser scenarios failed: ${e.message}`);
  if (pageErrors.length) console.log(`uncaught page errors:\n${pageErrors.join('\n')}`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  const passed = results.filter((r) => r.ok).length;
  console.log(`${passed} passed, ${results.length - passed} failed`);
}
process.exit(exitCode);
