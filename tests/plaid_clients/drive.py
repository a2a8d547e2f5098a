"""Drives the Plaid simulator through the official plaid-python client, unchanged.

    python drive.py BASE_URL CLIENT_ID SECRET

plaid-python checks every response against its generated models at run time (required keys,
types, enum values), so a response the simulator gets wrong raises here. Error answers are
checked against the client's PlaidError model the same way. At the end every Plaid path the
simulator serves (GET /sim/paths) must have answered 200 at least once. Exits non-zero on the
first deviation, naming it.
"""
import base64
import datetime
import http.server
import json
import sys
import threading
import time
import urllib.request

import plaid
from plaid import model_utils
from plaid.api import plaid_api
from plaid.models import (
    ACHClass, AccountsBalanceGetRequest, AccountsGetRequest, CountryCode, ItemGetRequest,
    ItemPublicTokenExchangeRequest, LinkTokenCreateRequest, LinkTokenCreateRequestUser, PlaidError,
    Products, SandboxItemFireWebhookRequest, SandboxItemResetLoginRequest,
    SandboxPublicTokenCreateRequest, SandboxPublicTokenCreateRequestOptions,
    SandboxTransferFireWebhookRequest, SandboxTransferSimulateRequest,
    TransferAuthorizationCancelRequest, TransferAuthorizationCreateRequest,
    TransferAuthorizationCreateRequestUserAttributes, TransferAuthorizationIdempotencyKey,
    TransferAuthorizationUserInRequest,
    TransferCancelRequest, TransferCreateRequest, TransferEventListRequest, TransferEventSyncRequest,
    TransferFailure, TransferGetRequest, TransferListRequest, TransferNetwork, TransferType,
    WebhookVerificationKeyGetRequest,
)

BASE, CLIENT_ID, SECRET = sys.argv[1:4]
configuration = plaid.Configuration(host=BASE, api_key={"clientId": CLIENT_ID, "secret": SECRET})
client = plaid_api.PlaidApi(plaid.ApiClient(configuration))
calls = 0


def call(method, request):
    """One typed call; plaid-python raises if the answer does not match its models."""
    global calls
    calls += 1
    return getattr(client, method)(request)


def plaid_error(method, request, code):
    """A call that must fail with Plaid error `code`; the error body must be a valid PlaidError."""
    global calls
    calls += 1
    try:
        getattr(client, method)(request)
    except plaid.ApiException as e:
        body = json.loads(e.body)
        error = model_utils.validate_and_convert_types(body, (PlaidError,), ["error"], True, True, configuration)
        if error.error_code != code:
            fail(f"{method}: expected {code}, got {error.error_code}")
        return error
    fail(f"{method}: expected error {code}, got success")


def fail(message):
    print(f"plaid-python: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def expect(condition, message):
    if not condition:
        fail(message)


def sim(path, body=None):
    """A /sim/* control (not Plaid; plain HTTP)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class Hooks(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hooks.received.append((dict(self.headers), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


WEBHOOK_MODELS = {
    "TRANSFER_EVENTS_UPDATE": "TransferEventsUpdateWebhook", "NEW_ACCOUNTS_AVAILABLE": "NewAccountsAvailableWebhook",
    "PENDING_DISCONNECT": "PendingDisconnectWebhook", "PENDING_EXPIRATION": "PendingExpirationWebhook",
    "ERROR": "ItemErrorWebhook", "LOGIN_REPAIRED": "ItemLoginRepairedWebhook",
    "RECURRING_NEW_TRANSFER": "RecurringNewTransferWebhook", "RECURRING_CANCELLED": "RecurringCancelledWebhook",
}


def wait_for_webhook(code):
    """The first webhook with this code; its body must match the client's webhook model."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for headers, body in Hooks.received:
            if body.get("webhook_code") == code:
                model = getattr(plaid.models, WEBHOOK_MODELS[code])
                model_utils.validate_and_convert_types(body, (model,), ["webhook"], True, True, configuration)
                return headers, body
        time.sleep(0.02)
    fail(f"no {code} webhook arrived")


receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
threading.Thread(target=receiver.serve_forever, daemon=True).start()
hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"

# Link the sandbox item.
public = call("sandbox_public_token_create", SandboxPublicTokenCreateRequest(
    institution_id="ins_109508", initial_products=[Products("transfer")],
    options=SandboxPublicTokenCreateRequestOptions(webhook=hook_url)))
exchanged = call("item_public_token_exchange", ItemPublicTokenExchangeRequest(public_token=public.public_token))
token = exchanged.access_token
accounts = call("accounts_get", AccountsGetRequest(access_token=token)).accounts
checking = next(a.account_id for a in accounts if str(a.subtype) == "checking")
savings = next(a.account_id for a in accounts if str(a.subtype) == "savings")
call("accounts_balance_get", AccountsBalanceGetRequest(access_token=token))
item = call("item_get", ItemGetRequest(access_token=token)).item
expect(item.item_id == exchanged.item_id, "item_get names another item")
call("link_token_create", LinkTokenCreateRequest(
    client_name="Countersign", language="en", country_codes=[CountryCode("US")],
    user=LinkTokenCreateRequestUser(client_user_id="user-1"), products=[Products("transfer")]))


def authorize(amount, account=checking, key=None, **extra):
    request = TransferAuthorizationCreateRequest(
        access_token=token, account_id=account, type=TransferType("debit"), network=TransferNetwork("ach"),
        amount=amount, ach_class=ACHClass("web"), user=TransferAuthorizationUserInRequest(legal_name="Ada Lovelace"),
        **({"idempotency_key": TransferAuthorizationIdempotencyKey(key)} if key else {}), **extra)
    return call("transfer_authorization_create", request).authorization


# Authorizations: approved (with the newer user_attributes), idempotent replay, declined NSF.
approved = authorize("10.00", key="py-key-1", user_attributes=TransferAuthorizationCreateRequestUserAttributes(
    account_created_time=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc), successful_payment_count=3))
expect(str(approved.decision) == "approved", f"decision {approved.decision}")
expect(approved.proposed_transfer.requested_amount == "10.00", "requested_amount")
replayed = authorize("10.00", key="py-key-1")
expect(replayed.id == approved.id, "idempotent replay made a new authorization")
sim("/sim/accounts/balance", {"account_id": savings, "available": "5.00"})
declined = authorize("10.00", account=savings)
expect(str(declined.decision) == "declined" and str(declined.decision_rationale.code) == "NSF", "NSF decline")
unused = authorize("1.00")
call("transfer_authorization_cancel", TransferAuthorizationCancelRequest(authorization_id=unused.id))


def create(authorization):
    return call("transfer_create", TransferCreateRequest(
        access_token=token, account_id=checking, authorization_id=authorization.id, description="Invoice 42")).transfer


# Create, replay, get by both ids, list.
transfer = create(approved)
expect(create(approved).id == transfer.id, "create replay made a second transfer")
expect(call("transfer_get", TransferGetRequest(transfer_id=transfer.id)).transfer.id == transfer.id, "get")
by_authorization = call("transfer_get", TransferGetRequest(authorization_id=approved.id)).transfer
expect(by_authorization.id == transfer.id, "get by authorization_id")

# Lifecycle: posted, settled (this one); returned R01 and failed (two more); a cancel.
def simulate(transfer_id, event_type, code=None):
    extra = {"failure_reason": TransferFailure(failure_code=code, description="simulated")} if code else {}
    call("sandbox_transfer_simulate", SandboxTransferSimulateRequest(
        transfer_id=transfer_id, event_type=event_type, **extra))


simulate(transfer.id, "posted")
simulate(transfer.id, "settled")
returned = create(authorize("2.00"))
simulate(returned.id, "posted")
simulate(returned.id, "returned", "R01")
got = call("transfer_get", TransferGetRequest(transfer_id=returned.id)).transfer
expect(str(got.status) == "returned" and got.failure_reason.failure_code == "R01", "returned with R01")
failed = create(authorize("3.00"))
simulate(failed.id, "failed")
cancellable = create(authorize("4.00"))
expect(cancellable.cancellable, "a new transfer is cancellable")
call("transfer_cancel", TransferCancelRequest(transfer_id=cancellable.id))
plaid_error("transfer_cancel", TransferCancelRequest(transfer_id=cancellable.id), "TRANSFER_NOT_CANCELLABLE")

listed = call("transfer_list", TransferListRequest(count=25)).transfers
expect(len(listed) == 4, f"transfer_list lists {len(listed)} transfers")
synced = call("transfer_event_sync", TransferEventSyncRequest(after_id=0, count=100))
types = [str(e.event_type) for e in synced.transfer_events]
for wanted in ["pending", "posted", "settled", "returned", "failed", "cancelled"]:
    expect(wanted in types, f"event sync lacks {wanted}")
events = call("transfer_event_list", TransferEventListRequest(transfer_id=returned.id)).transfer_events
expect([str(e.event_type) for e in events] == ["returned", "posted", "pending"], "event list order")

# Webhooks: transfer events, the key that signs them, item webhooks.
call("sandbox_transfer_fire_webhook", SandboxTransferFireWebhookRequest(webhook=hook_url))
headers, _ = wait_for_webhook("TRANSFER_EVENTS_UPDATE")
verification = {k.lower(): v for k, v in headers.items()}["plaid-verification"]
kid = json.loads(base64.urlsafe_b64decode(verification.split(".")[0] + "=="))["kid"]
key = call("webhook_verification_key_get", WebhookVerificationKeyGetRequest(key_id=kid)).key
expect(key.kid == kid and key.alg == "ES256", "webhook key")
for code in ["NEW_ACCOUNTS_AVAILABLE", "PENDING_DISCONNECT"]:
    call("sandbox_item_fire_webhook", SandboxItemFireWebhookRequest(access_token=token, webhook_code=code))
    wait_for_webhook(code)
# Not in Plaid's fire_webhook enum (the client refuses it): the simulator's own control fires it.
sim("/sim/items/fire_webhook", {"access_token": token, "webhook_code": "PENDING_EXPIRATION"})
wait_for_webhook("PENDING_EXPIRATION")

# reset_login: ITEM_LOGIN_REQUIRED as a typed error, user_action_required, update mode, repair.
call("sandbox_item_reset_login", SandboxItemResetLoginRequest(access_token=token))
wait_for_webhook("ERROR")
error = plaid_error("accounts_get", AccountsGetRequest(access_token=token), "ITEM_LOGIN_REQUIRED")
expect(str(error.error_type) == "ITEM_ERROR", "error_type")
expect(str(authorize("5.00").decision) == "user_action_required", "user_action_required")
call("link_token_create", LinkTokenCreateRequest(
    client_name="Countersign", language="en", country_codes=[CountryCode("US")],
    user=LinkTokenCreateRequestUser(client_user_id="user-1"), access_token=token))
call("sandbox_item_fire_webhook", SandboxItemFireWebhookRequest(access_token=token, webhook_code="LOGIN_REPAIRED"))
wait_for_webhook("LOGIN_REPAIRED")
call("accounts_get", AccountsGetRequest(access_token=token))

# Recurring transfers on a sandbox test clock: create (and replay), occurrences as the clock moves,
# get, list, cancel; the clock's own create, advance, get and list. The item is repaired above.
clock = call("sandbox_transfer_test_clock_create", plaid.models.SandboxTransferTestClockCreateRequest(
    virtual_time=datetime.datetime(2026, 12, 31, tzinfo=datetime.timezone.utc))).test_clock
schedule = plaid.models.TransferRecurringSchedule(
    interval_unit=plaid.models.TransferScheduleIntervalUnit("week"), interval_count=1, interval_execution_day=1,
    start_date=datetime.date(2027, 1, 1), end_date=datetime.date(2027, 1, 31))
recurring_request = plaid.models.TransferRecurringCreateRequest(
    access_token=token, idempotency_key=plaid.models.TransferRecurringIdempotencyKey("py-recurring-1"),
    account_id=checking, type=TransferType("debit"), network=plaid.models.TransferRecurringNetwork("ach"),
    ach_class=ACHClass("web"), amount="25.00", description="Rent", schedule=schedule,
    user=plaid.models.TransferUserInRequest(legal_name="Ada Lovelace"), test_clock_id=clock.test_clock_id)
created = call("transfer_recurring_create", recurring_request)
expect(str(created.decision) == "approved", f"recurring decision {created.decision}")
recurring = created.recurring_transfer
again = call("transfer_recurring_create", recurring_request).recurring_transfer
expect(again.recurring_transfer_id == recurring.recurring_transfer_id, "recurring replay made a second one")
call("sandbox_transfer_test_clock_advance", plaid.models.SandboxTransferTestClockAdvanceRequest(
    test_clock_id=clock.test_clock_id, new_virtual_time=datetime.datetime(2027, 1, 12, tzinfo=datetime.timezone.utc)))
wait_for_webhook("RECURRING_NEW_TRANSFER")
got = call("transfer_recurring_get", plaid.models.TransferRecurringGetRequest(
    recurring_transfer_id=recurring.recurring_transfer_id)).recurring_transfer
expect(len(got.transfer_ids) == 2, f"two Mondays passed, {len(got.transfer_ids)} transfers")
ticked = call("sandbox_transfer_test_clock_get", plaid.models.SandboxTransferTestClockGetRequest(
    test_clock_id=clock.test_clock_id)).test_clock
expect(ticked.virtual_time.date() == datetime.date(2027, 1, 12), "the clock moved")
clocks = call("sandbox_transfer_test_clock_list", plaid.models.SandboxTransferTestClockListRequest()).test_clocks
expect(len(clocks) == 1, "one test clock")
listed_recurring = call("transfer_recurring_list", plaid.models.TransferRecurringListRequest()).recurring_transfers
expect(len(listed_recurring) == 1, "one recurring transfer")
call("transfer_recurring_cancel", plaid.models.TransferRecurringCancelRequest(
    recurring_transfer_id=recurring.recurring_transfer_id))
wait_for_webhook("RECURRING_CANCELLED")
sim("/sim/accounts/balance", {"account_id": checking, "available": "1.00"})
declined = call("transfer_recurring_create", plaid.models.TransferRecurringCreateRequest(
    access_token=token, idempotency_key=plaid.models.TransferRecurringIdempotencyKey("py-recurring-nsf"),
    account_id=checking, type=TransferType("debit"), network=plaid.models.TransferRecurringNetwork("ach"),
    ach_class=ACHClass("web"), amount="25.00", description="Rent", schedule=schedule,
    user=plaid.models.TransferUserInRequest(legal_name="Ada Lovelace")))
expect(str(declined.decision) == "declined" and declined.get("recurring_transfer") is None, "recurring NSF decline")

# Read products, when the simulator serves them (issue 17's gateway adds them).
READS = {
    "/auth/get": "auth_get", "/identity/get": "identity_get", "/liabilities/get": "liabilities_get",
    "/investments/holdings/get": "investments_holdings_get", "/transactions/sync": "transactions_sync",
}
served = sim("/sim/paths")
for path, method in READS.items():
    if path in served:
        request_class = getattr(plaid.models, "".join(p.capitalize() for p in method.split("_")) + "Request")
        call(method, request_class(access_token=token))

answered = {c["endpoint"] for c in sim("/sim/calls") if c["status"] == 200}
missing = sorted(set(served) - answered)
expect(not missing, f"served but never driven through plaid-python: {', '.join(missing)}")
print(f"plaid-python {plaid.__version__}: {calls} calls over {len(served)} Plaid paths, every answer typed")
