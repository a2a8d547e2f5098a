// Real-browser test of the approver web form: headless Chromium (Debian's package) signs in with
// password + TOTP, opens a pending request, approves it with a step-up code, and sees the
// transfer submitted; approves three small debits in one batch; watches a request's countdown
// reach zero (Playwright's clock, fast-forwarded) and its forms disable; and scans every page with
// axe-core (0 violations). TOTP codes come from `otpauth`, not from Countersign's Rust code.
// Started by ./run, which seeds the service and passes its details in the environment.
import { chromium } from 'playwright-core';
import AxeBuilder from '@axe-core/playwright';
import * as OTPAuth from 'otpauth';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const BASE_URL = env('BASE_URL');
const ENROLL_URL = env('ENROLL_URL');
const API_KEY = env('API_KEY');
const SCREENSHOTS = env('SCREENSHOTS');
const started = Date.now();
const totp = new OTPAuth.TOTP({
  secret: OTPAuth.Secret.fromBase32(env('TOTP_SECRET')),
  algorithm: 'SHA1',
  digits: 6,
  period: 30,
});
const codeForStep = (step) => totp.generate({ timestamp: step * 30_000 });

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`  ok - ${message}`);
}

async function api(path, init = {}) {
  const response = await fetch(`${BASE_URL}${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json', ...(init.headers ?? {}) },
  });
  return { status: response.status, body: await response.json() };
}

// The agent proposes a transfer above the step-up amount.
const { body: items } = await api('/v1/items');
const item = items.items[0];
const account = item.accounts.find((a) => a.subtype === 'checking') ?? item.accounts[0];
const proposalOf = (amount, extra = {}) => ({
  item_id: item.id, account_id: account.account_id, type: 'debit', network: 'ach', ach_class: 'web',
  amount, description: 'Invoice 42', user: { legal_name: 'Ada Lovelace' },
  thread_id: 'browser-thread-1', reason: 'Collect invoice 42 <b>now</b>', ...extra,
});
const propose = (body) => api('/v1/transfers', {
  method: 'POST', headers: { 'Idempotency-Key': crypto.randomUUID() }, body: JSON.stringify(body),
});
const created = await propose(proposalOf('1500.00'));
check(created.status === 201 && created.body.state === 'pending_approval', `proposal is pending (${created.body.state})`);
check(created.body.step_up_required === true, 'the amount needs a step-up code');
const id = created.body.id;

mkdirSync(SCREENSHOTS, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
// axe-core on the page as it stands: every rule axe runs by default, 0 violations allowed.
const scanned = [];
async function scan(page, name) {
  const results = await new AxeBuilder({ page }).analyze();
  const found = results.violations.map((v) => `${v.id} (${v.nodes.length}): ${v.nodes[0]?.target}`);
  check(found.length === 0, `axe: no violations on the ${name} page${found.length ? ` — ${found.join('; ')}` : ''}`);
  scanned.push(name);
}
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
  page.on('pageerror', (error) => problems.push(String(error)));
  const shoot = async (name, width, height) => {
    await page.setViewportSize({ width, height });
    await page.screenshot({ path: join(SCREENSHOTS, name), fullPage: true });
  };

  // Signed out: the inbox sends us to the sign-in form.
  await page.goto(`${BASE_URL}/ui`);
  check(page.url().endsWith('/ui/sign-in'), 'signed-out visitors land on the sign-in page');
  await scan(page, 'sign-in');
  await page.goto(ENROLL_URL);
  await scan(page, 'enrollment');
  await page.goto(`${BASE_URL}/ui/sign-in`);
  const signInStep = Math.floor(Date.now() / 30_000);
  await page.getByLabel('Username').fill(env('APPROVER'));
  await page.getByLabel('Password').fill(env('APPROVER_PASSWORD'));
  await page.getByLabel('Code from your authenticator app').fill(codeForStep(signInStep));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${BASE_URL}/ui`);
  check(await page.getByRole('heading', { name: 'Waiting for you' }).isVisible(), 'signed in: the inbox shows');
  const link = page.getByRole('link', { name: 'Debit $1,500.00' }).first();
  check(await link.isVisible(), 'the pending request is in the inbox');
  await scan(page, 'inbox');
  await shoot('inbox-desktop.png', 1280, 900);
  await shoot('inbox-phone.png', 390, 844);
  await page.setViewportSize({ width: 1280, height: 900 });

  await link.click();
  await page.waitForURL(`${BASE_URL}/ui/requests/${id}`);
  check(await page.getByRole('heading', { level: 1 }).innerText() === `Debit $1,500.00 from ${account.name} ••${account.mask} at ${item.institution_name}`,
    'the request page says what will happen in plain words');
  check(await page.getByText('Collect invoice 42 <b>now</b>').isVisible(), "the agent's reason shows as text, not markup");
  check(await page.getByText('Available balance after', { exact: true }).isVisible(), 'balances before and after are shown');
  await scan(page, 'request');
  await shoot('request-desktop.png', 1280, 900);
  await shoot('request-phone.png', 390, 844);

  // Keyboard only: type the step-up code and press Enter in the approve form.
  const code = page.locator('#approve_totp');
  await code.focus();
  await page.keyboard.type(codeForStep(signInStep + 1));
  await page.keyboard.press('Enter');
  await page.waitForURL(`${BASE_URL}/ui/requests/${id}?m=approved`);
  check(await page.getByText('Your approval is recorded.').isVisible(), 'the approval is confirmed');
  check(await page.getByText('Transfer submitted', { exact: true }).isVisible(), 'the page shows the transfer submitted');
  await scan(page, 'decided request');
  await shoot('approved-phone.png', 390, 844);
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${BASE_URL}/ui/history`);
  await scan(page, 'history');
  await shoot('history-desktop.png', 1280, 900);
  await page.goto(`${BASE_URL}/ui/history/${id}`);
  await scan(page, 'audit trail');
  const wide = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  check(wide, 'the audit trail fits 1,280 px without sideways scrolling');
  // The error page: its own 404 is the one console error expected here.
  const seenBefore = problems.length;
  await page.goto(`${BASE_URL}/ui/requests/tr_00000000000000000000000000000000`);
  check(await page.getByRole('heading', { name: 'Not Found' }).isVisible(), 'an unknown request shows our error page');
  await scan(page, 'not found');
  const expected404 = problems.splice(seenBefore).filter((p) => !p.includes('404 (Not Found)'));
  problems.push(...expected404);

  // Batch approval: three tier-2 debits below the step-up amount, one summary confirmation.
  const batch = [];
  for (const amount of ['100.00', '200.00', '913.00']) {
    const { status, body } = await propose(proposalOf(amount, { reason: `Batch item ${amount}` }));
    check(status === 201 && body.state === 'pending_approval', `batch proposal ${amount} is pending`);
    batch.push(body.id);
  }
  await page.goto(`${BASE_URL}/ui`);
  for (const amount of ['$100.00', '$200.00', '$913.00']) {
    await page.getByRole('checkbox', { name: `Select Debit ${amount} to Ada Lovelace for batch approval` }).check();
  }
  await page.getByRole('button', { name: 'Review selected for batch approval' }).click();
  await page.waitForURL(/\/ui\/batch\?/);
  const confirm = page.getByRole('button', { name: 'Approve 3 debits, $1,213.00 in total' });
  check(await confirm.isVisible(), 'one summary confirmation: "Approve 3 debits, $1,213.00 in total"');
  await scan(page, 'batch confirmation');
  await shoot('batch-desktop.png', 1280, 900);
  await page.setViewportSize({ width: 1280, height: 900 });
  await confirm.click();
  await page.waitForURL(`${BASE_URL}/ui?m=batch_done&approved=3&refused=0`);
  check(await page.getByText('Approved 3 requests, one by one.').isVisible(), 'the inbox says all three were approved');
  for (const batchId of batch) {
    const { body: seen } = await api(`/v1/transfers/${batchId}?wait=5`);
    check(seen.state === 'submitted', `batch request ${batchId} was submitted on its own (${seen.state})`);
  }

  // The live window: the countdown reaches zero and the forms disable with the exact words.
  const { body: timed } = await propose(proposalOf('25.00', { reason: 'Countdown check' }));
  const live = await context.newPage();
  live.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
  live.on('pageerror', (error) => problems.push(String(error)));
  await live.clock.install();
  await live.goto(`${BASE_URL}/ui/requests/${timed.id}`);
  const closesAt = await live.locator('[data-live]').getAttribute('data-closes-at');
  check(await live.getByRole('button', { name: /^Approve and send \$25\.00/ }).isEnabled(), 'the approve button starts enabled');
  await live.clock.fastForward('02:00:00');
  const notice = live.locator('#live-status');
  await notice.waitFor({ state: 'visible' });
  check(await notice.innerText() === `The approval window closed at ${closesAt}.`,
    `the countdown reached zero: "The approval window closed at ${closesAt}."`);
  check(await live.getByRole('button', { name: /^Approve and send/ }).isDisabled(), 'the approve button is disabled');
  check(await live.getByRole('button', { name: /^Reject/ }).isDisabled(), 'the reject button is disabled');
  check(!(await live.content()).includes('already decided'), 'an expired window never says "already decided"');
  await scan(live, 'request with a closed window');
  await live.screenshot({ path: join(SCREENSHOTS, 'window-closed-desktop.png'), fullPage: true });

  // Decided elsewhere: the agent withdraws the request while the page is open; the page learns it.
  const { body: withdrawn } = await propose(proposalOf('26.00', { reason: 'Withdrawn while open' }));
  await page.goto(`${BASE_URL}/ui/requests/${withdrawn.id}`);
  const cancelled = await api(`/v1/transfers/${withdrawn.id}/cancel`, {
    method: 'POST', headers: { 'Idempotency-Key': crypto.randomUUID() }, body: '{}',
  });
  check(cancelled.status === 200, `the agent cancelled the request (${cancelled.status})`);
  const learned = page.locator('#live-status');
  await learned.waitFor({ state: 'visible', timeout: 15_000 });
  check(await learned.innerText() === 'This request is no longer waiting for approval: Cancelled by the agent.',
    'the open page learns the request was withdrawn, in the server\'s words');
  check(await page.getByRole('button', { name: /^Approve and send/ }).isDisabled(), 'and disables the approve button');
  // The approver's other pages: the Digest of tier-1 transfers and the recent sensitive reads.
  for (const [path, name] of [['/ui/digest', 'digest'], ['/ui/reads', 'sensitive reads']]) {
    await page.goto(`${BASE_URL}${path}`);
    await scan(page, name);
  }
  // An admin's and a compliance officer's pages, each in its own signed-in browser context.
  for (const [user, secretVar, pages] of [
    ['browser-admin', 'ADMIN_TOTP_SECRET', [['/ui/admin', 'administration']]],
    ['browser-carol', 'COMPLIANCE_TOTP_SECRET', [['/ui/policy', 'policy'], ['/ui/history', 'history (compliance)']]],
  ]) {
    const other = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    other.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
    const theirs = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(env(secretVar)), algorithm: 'SHA1', digits: 6, period: 30 });
    await other.goto(`${BASE_URL}/ui/sign-in`);
    await other.getByLabel('Username').fill(user);
    await other.getByLabel('Password').fill(env('APPROVER_PASSWORD'));
    await other.getByLabel('Code from your authenticator app').fill(theirs.generate());
    await other.getByRole('button', { name: 'Sign in' }).click();
    await other.waitForURL(`${BASE_URL}/ui`);
    for (const [path, name] of pages) {
      const response = await other.goto(`${BASE_URL}${path}`);
      check(response.status() === 200, `${user} opens ${path} (${response.status()})`);
      await scan(other, name);
    }
  }
  check(problems.length === 0, `no console errors or CSP violations (${problems.join('; ')})`);
} finally {
  await browser.close();
}

const { body: seen } = await api(`/v1/transfers/${id}?wait=5`);
check(seen.state === 'submitted' && Boolean(seen.transfer_id), `the agent sees the transfer submitted (${seen.state})`);
console.log(`axe-core scanned ${scanned.length} pages: ${scanned.join(', ')}`);
console.log(`browser test took ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${SCREENSHOTS}`);
console.log('browser: 1 passed, 0 failed');
