// Real-browser test of the approver web form: headless Chromium (Debian's package) signs in with
// password + TOTP, opens a pending request, approves it with a step-up code, and sees the
// transfer submitted. TOTP codes come from `otpauth`, not from Countersign's Rust code.
// Started by ./run, which seeds the service and passes its details in the environment.
import { chromium } from 'playwright-core';
import * as OTPAuth from 'otpauth';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const BASE_URL = env('BASE_URL');
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
const proposal = {
  item_id: item.id, account_id: account.account_id, type: 'debit', network: 'ach', ach_class: 'web',
  amount: '1500.00', description: 'Invoice 42', user: { legal_name: 'Ada Lovelace' },
  thread_id: 'browser-thread-1', reason: 'Collect invoice 42 <b>now</b>',
};
const created = await api('/v1/transfers', {
  method: 'POST', headers: { 'Idempotency-Key': crypto.randomUUID() }, body: JSON.stringify(proposal),
});
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
  const signInStep = Math.floor(Date.now() / 30_000);
  await page.getByLabel('Username').fill(env('APPROVER'));
  await page.getByLabel('Password').fill(env('APPROVER_PASSWORD'));
  await page.getByLabel('Code from your authenticator app').fill(codeForStep(signInStep));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${BASE_URL}/ui`);
  check(await page.getByRole('heading', { name: 'Waiting for you' }).isVisible(), 'signed in: the inbox shows');
  const link = page.getByRole('link', { name: 'Debit $1,500.00' }).first();
  check(await link.isVisible(), 'the pending request is in the inbox');
  await shoot('inbox-desktop.png', 1280, 900);
  await shoot('inbox-phone.png', 390, 844);
  await page.setViewportSize({ width: 1280, height: 900 });

  await link.click();
  await page.waitForURL(`${BASE_URL}/ui/requests/${id}`);
  check(await page.getByRole('heading', { level: 1 }).innerText() === `Debit $1,500.00 from ${account.name} ••${account.mask} at ${item.institution_name}`,
    'the request page says what will happen in plain words');
  check(await page.getByText('Collect invoice 42 <b>now</b>').isVisible(), "the agent's reason shows as text, not markup");
  check(await page.getByText('Available balance after').isVisible(), 'balances before and after are shown');
  await shoot('request-desktop.png', 1280, 900);
  await shoot('request-phone.png', 390, 844);

  // Keyboard only: type the step-up code and press Enter in the approve form.
  const code = page.locator('#approve_totp');
  await code.focus();
  await page.keyboard.type(codeForStep(signInStep + 1));
  await page.keyboard.press('Enter');
  await page.waitForURL(`${BASE_URL}/ui/requests/${id}?m=approved`);
  check(await page.getByText('Your approval is recorded.').isVisible(), 'the approval is confirmed');
  check(await page.getByText('Transfer submitted').isVisible(), 'the page shows the transfer submitted');
  await shoot('approved-phone.png', 390, 844);
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${BASE_URL}/ui/history`);
  await shoot('history-desktop.png', 1280, 900);
  check(problems.length === 0, `no console errors or CSP violations (${problems.join('; ')})`);
} finally {
  await browser.close();
}

const { body: seen } = await api(`/v1/transfers/${id}?wait=5`);
check(seen.state === 'submitted' && Boolean(seen.transfer_id), `the agent sees the transfer submitted (${seen.state})`);
console.log(`browser test took ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${SCREENSHOTS}`);
console.log('browser: 1 passed, 0 failed');
