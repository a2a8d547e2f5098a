// Drives the Plaid simulator through the official npm `plaid` client, unchanged, and checks every
// answer against the package's TypeScript interfaces (check_types.cjs): success bodies against the
// declared response type of the PlaidApi method, error bodies against PlaidError.
//
//   NODE_PATH=…/node_modules node drive.cjs BASE_URL CLIENT_ID SECRET
//
// At the end every Plaid path the simulator serves (GET /sim/paths) must have answered 200 at
// least once. Exits non-zero on the first deviation, naming it.
"use strict";
const http = require("node:http");
const path = require("node:path");
const { Configuration, PlaidApi } = require("plaid");
const { createChecker } = require("./check_types.cjs");

const [base, clientId, secret] = process.argv.slice(2);
const client = new PlaidApi(new Configuration({
  basePath: base,
  baseOptions: { headers: { "PLAID-CLIENT-ID": clientId, "PLAID-SECRET": secret } },
}));
const types = createChecker(path.join(path.dirname(require.resolve("plaid")), "api.d.ts"));
const version = require("plaid/package.json").version;
const unknownToClient = new Set();
let calls = 0;

function fail(message) {
  console.error(`plaid-node: FAILED: ${message}`);
  process.exit(1);
}

function expect(condition, message) {
  if (!condition) fail(message);
}

function report({ problems, extras }, what) {
  extras.forEach((e) => unknownToClient.add(e.replace(/\[\d+\]/g, "[]")));
  if (problems.length) fail(`${what} does not match plaid ${version}'s types:\n  ${problems.join("\n  ")}`);
}

// One call; its answer must match the method's declared response type.
async function call(method, request) {
  calls += 1;
  let response;
  try {
    response = await client[method](request);
  } catch (e) {
    fail(`${method}: ${e.response ? JSON.stringify(e.response.data) : e}`);
  }
  report(types.response(method, response.data), method);
  return response.data;
}

// A call that must fail with Plaid error `code`; the body must be a PlaidError.
async function plaidError(method, request, code) {
  calls += 1;
  try {
    await client[method](request);
  } catch (e) {
    if (!e.response) fail(`${method}: ${e}`);
    report(types.named("PlaidError", e.response.data, `${method} error`), `${method} error`);
    expect(e.response.data.error_code === code, `${method}: expected ${code}, got ${e.response.data.error_code}`);
    return e.response.data;
  }
  fail(`${method}: expected error ${code}, got success`);
}

// A /sim/* control (not Plaid; plain HTTP).
async function sim(route, body) {
  const response = await fetch(base + route, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  return response.json();
}

const received = [];
const receiver = http.createServer((req, res) => {
  let body = "";
  req.on("data", (chunk) => { body += chunk; });
  req.on("end", () => { received.push({ headers: req.headers, body: JSON.parse(body) }); res.end("ok"); });
});

const webhookTypes = {
  TRANSFER_EVENTS_UPDATE: "TransferEventsUpdateWebhook", NEW_ACCOUNTS_AVAILABLE: "NewAccountsAvailableWebhook",
  PENDING_DISCONNECT: "PendingDisconnectWebhook", PENDING_EXPIRATION: "PendingExpirationWebhook",
  ERROR: "ItemErrorWebhook", LOGIN_REPAIRED: "ItemLoginRepairedWebhook",
  RECURRING_NEW_TRANSFER: "RecurringNewTransferWebhook", RECURRING_CANCELLED: "RecurringCancelledWebhook",
};

// The first webhook with this code; its body must match the package's webhook interface.
async function waitForWebhook(code) {
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    const found = received.find((r) => r.body.webhook_code === code);
    if (found) {
      report(types.named(webhookTypes[code], found.body, `${code} webhook`), `${code} webhook`);
      return found;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  fail(`no ${code} webhook arrived`);
}

// The checker is not vacuous: a missing required key and a foreign enum value are caught.
function selfTest() {
  const missing = types.named("TransferAuthorizationProposedTransfer", {}, "self-test").problems;
  expect(missing.some((p) => p.includes(".requested_amount: required")), "type checker misses a required key");
  const wrongEnum = types.named("TransferEvent", { event_type: "exploded" }, "self-test").problems;
  expect(wrongEnum.some((p) => p.startsWith("self-test.event_type: \"exploded\"")), "type checker misses an enum value");
}

async function main() {
  selfTest();
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const hookUrl = `http://127.0.0.1:${receiver.address().port}/hook`;

  // Link the sandbox item.
  const pub = await call("sandboxPublicTokenCreate", {
    institution_id: "ins_109508", initial_products: ["transfer"], options: { webhook: hookUrl },
  });
  const exchanged = await call("itemPublicTokenExchange", { public_token: pub.public_token });
  const token = exchanged.access_token;
  const { accounts } = await call("accountsGet", { access_token: token });
  const checking = accounts.find((a) => a.subtype === "checking").account_id;
  const savings = accounts.find((a) => a.subtype === "savings").account_id;
  await call("accountsBalanceGet", { access_token: token });
  const { item } = await call("itemGet", { access_token: token });
  expect(item.item_id === exchanged.item_id, "itemGet names another item");
  const linkRequest = {
    client_name: "Countersign", language: "en", country_codes: ["US"], user: { client_user_id: "user-1" },
  };
  await call("linkTokenCreate", { ...linkRequest, products: ["transfer"] });

  const authorize = async (amount, account = checking, key = undefined) => (await call("transferAuthorizationCreate", {
    access_token: token, account_id: account, type: "debit", network: "ach", amount, ach_class: "web",
    user: { legal_name: "Ada Lovelace" }, ...(key ? { idempotency_key: key } : {}),
  })).authorization;

  // Authorizations: approved, idempotent replay, declined NSF, cancelled.
  const approved = await authorize("10.00", checking, "node-key-1");
  expect(approved.decision === "approved", `decision ${approved.decision}`);
  expect(approved.proposed_transfer.requested_amount === "10.00", "requested_amount");
  expect((await authorize("10.00", checking, "node-key-1")).id === approved.id, "idempotent replay");
  await sim("/sim/accounts/balance", { account_id: savings, available: "5.00" });
  const declined = await authorize("10.00", savings);
  expect(declined.decision === "declined" && declined.decision_rationale.code === "NSF", "NSF decline");
  const unused = await authorize("1.00");
  await call("transferAuthorizationCancel", { authorization_id: unused.id });

  const create = async (authorization) => (await call("transferCreate", {
    access_token: token, account_id: checking, authorization_id: authorization.id, description: "Invoice 42",
  })).transfer;
  const simulate = (transferId, eventType, code) => call("sandboxTransferSimulate", {
    transfer_id: transferId, event_type: eventType,
    ...(code ? { failure_reason: { failure_code: code, description: "simulated" } } : {}),
  });

  // Create, replay, get by both ids.
  const transfer = await create(approved);
  expect((await create(approved)).id === transfer.id, "create replay made a second transfer");
  expect((await call("transferGet", { transfer_id: transfer.id })).transfer.id === transfer.id, "get");
  expect((await call("transferGet", { authorization_id: approved.id })).transfer.id === transfer.id, "get by authorization");

  // Lifecycle: posted, settled; returned R01; failed; cancelled.
  await simulate(transfer.id, "posted");
  await simulate(transfer.id, "settled");
  const returned = await create(await authorize("2.00"));
  await simulate(returned.id, "posted");
  await simulate(returned.id, "returned", "R01");
  const got = (await call("transferGet", { transfer_id: returned.id })).transfer;
  expect(got.status === "returned" && got.failure_reason.failure_code === "R01", "returned with R01");
  const failed = await create(await authorize("3.00"));
  await simulate(failed.id, "failed");
  const cancellable = await create(await authorize("4.00"));
  expect(cancellable.cancellable === true, "a new transfer is cancellable");
  await call("transferCancel", { transfer_id: cancellable.id });
  await plaidError("transferCancel", { transfer_id: cancellable.id }, "TRANSFER_NOT_CANCELLABLE");

  const listed = (await call("transferList", { count: 25 })).transfers;
  expect(listed.length === 4, `transferList lists ${listed.length} transfers`);
  const synced = await call("transferEventSync", { after_id: 0, count: 100 });
  const eventTypes = synced.transfer_events.map((e) => e.event_type);
  for (const wanted of ["pending", "posted", "settled", "returned", "failed", "cancelled"]) {
    expect(eventTypes.includes(wanted), `event sync lacks ${wanted}`);
  }
  const events = (await call("transferEventList", { transfer_id: returned.id })).transfer_events;
  expect(events.map((e) => e.event_type).join() === "returned,posted,pending", "event list order");

  // Webhooks: transfer events, the key that signs them, item webhooks.
  await call("sandboxTransferFireWebhook", { webhook: hookUrl });
  const update = await waitForWebhook("TRANSFER_EVENTS_UPDATE");
  const header = JSON.parse(Buffer.from(update.headers["plaid-verification"].split(".")[0], "base64url").toString());
  const { key } = await call("webhookVerificationKeyGet", { key_id: header.kid });
  expect(key.kid === header.kid && key.alg === "ES256", "webhook key");
  for (const code of ["NEW_ACCOUNTS_AVAILABLE", "PENDING_DISCONNECT"]) {
    await call("sandboxItemFireWebhook", { access_token: token, webhook_code: code });
    await waitForWebhook(code);
  }
  // Not in Plaid's fire_webhook enum: the simulator's own control fires it.
  await sim("/sim/items/fire_webhook", { access_token: token, webhook_code: "PENDING_EXPIRATION" });
  await waitForWebhook("PENDING_EXPIRATION");

  // reset_login: ITEM_LOGIN_REQUIRED as an error object, user_action_required, update mode, repair.
  await call("sandboxItemResetLogin", { access_token: token });
  await waitForWebhook("ERROR");
  const error = await plaidError("accountsGet", { access_token: token }, "ITEM_LOGIN_REQUIRED");
  expect(error.error_type === "ITEM_ERROR", "error_type");
  expect((await authorize("5.00")).decision === "user_action_required", "user_action_required");
  await call("linkTokenCreate", { ...linkRequest, access_token: token });
  await call("sandboxItemFireWebhook", { access_token: token, webhook_code: "LOGIN_REPAIRED" });
  await waitForWebhook("LOGIN_REPAIRED");
  await call("accountsGet", { access_token: token });

  // Recurring transfers on a sandbox test clock: create (and replay), occurrences as the clock moves,
  // get, list, cancel; the clock's own create, advance, get and list. The item is repaired above.
  const { test_clock: clock } = await call("sandboxTransferTestClockCreate", { virtual_time: "2026-12-31T00:00:00Z" });
  const recurringRequest = (key) => ({
    access_token: token, idempotency_key: key, account_id: checking, type: "debit", network: "ach",
    ach_class: "web", amount: "25.00", description: "Rent", user: { legal_name: "Ada Lovelace" },
    schedule: { interval_unit: "week", interval_count: 1, interval_execution_day: 1,
      start_date: "2027-01-01", end_date: "2027-01-31" },
  });
  const created = await call("transferRecurringCreate", { ...recurringRequest("node-recurring-1"), test_clock_id: clock.test_clock_id });
  expect(created.decision === "approved", `recurring decision ${created.decision}`);
  const recurringId = created.recurring_transfer.recurring_transfer_id;
  const again = await call("transferRecurringCreate", { ...recurringRequest("node-recurring-1"), test_clock_id: clock.test_clock_id });
  expect(again.recurring_transfer.recurring_transfer_id === recurringId, "recurring replay made a second one");
  await call("sandboxTransferTestClockAdvance", { test_clock_id: clock.test_clock_id, new_virtual_time: "2027-01-12T00:00:00Z" });
  await waitForWebhook("RECURRING_NEW_TRANSFER");
  const gotRecurring = (await call("transferRecurringGet", { recurring_transfer_id: recurringId })).recurring_transfer;
  expect(gotRecurring.transfer_ids.length === 2, `two Mondays passed, ${gotRecurring.transfer_ids.length} transfers`);
  const ticked = (await call("sandboxTransferTestClockGet", { test_clock_id: clock.test_clock_id })).test_clock;
  expect(ticked.virtual_time.startsWith("2027-01-12"), "the clock moved");
  expect((await call("sandboxTransferTestClockList", {})).test_clocks.length === 1, "one test clock");
  expect((await call("transferRecurringList", {})).recurring_transfers.length === 1, "one recurring transfer");
  await call("transferRecurringCancel", { recurring_transfer_id: recurringId });
  await waitForWebhook("RECURRING_CANCELLED");
  await sim("/sim/accounts/balance", { account_id: checking, available: "1.00" });
  const declinedRecurring = await call("transferRecurringCreate", recurringRequest("node-recurring-nsf"));
  expect(declinedRecurring.decision === "declined" && !declinedRecurring.recurring_transfer, "recurring NSF decline");

  // Read products, when the simulator serves them (issue 17's gateway adds them).
  const reads = {
    "/auth/get": "authGet", "/identity/get": "identityGet", "/liabilities/get": "liabilitiesGet",
    "/investments/holdings/get": "investmentsHoldingsGet", "/transactions/sync": "transactionsSync",
  };
  const served = await sim("/sim/paths");
  for (const [route, method] of Object.entries(reads)) {
    if (served.includes(route)) await call(method, { access_token: token });
  }

  const answered = new Set((await sim("/sim/calls")).filter((c) => c.status === 200).map((c) => c.endpoint));
  const missing = served.filter((p) => !answered.has(p));
  expect(missing.length === 0, `served but never driven through plaid-node: ${missing.join(", ")}`);
  if (unknownToClient.size) {
    console.log(`plaid-node: fields plaid ${version} does not declare (allowed): ${[...unknownToClient].sort().join(", ")}`);
  }
  console.log(`plaid-node ${version}: ${calls} calls over ${served.length} Plaid paths, every answer matches its TypeScript interface`);
}

// Exit at once: the simulator's webhook client keeps idle connections to the receiver open.
main().then(() => process.exit(0), (e) => fail(e.stack || String(e)));
