"""schemathesis hooks for tests/schemathesis/run (loaded through SCHEMATHESIS_HOOKS).

`positive_data_acceptance_by_code` is positive-data acceptance that reads our error body: a request
valid by the schema may be refused only for reasons a schema cannot express, each named by its
machine code. Anything else (a 400 or 422 for a field the schema allows) fails the run.
"""

import json
import pathlib
import unicodedata

import jsonschema_rs
import schemathesis
import yaml

_SPEC = yaml.safe_load((pathlib.Path(__file__).resolve().parents[2] / "openapi.yaml").read_text())


def _body_valid_by_spec(case):
    """Whether the case's JSON body really satisfies the operation's request schema.

    schemathesis's fuzzer sometimes labels a body positive that breaks a `pattern` reached through
    `allOf` (seen: a control character and an empty string in `Line` fields); the service rightly
    refuses those. Positive-data acceptance is asserted only for bodies the spec itself accepts.
    """
    operation = _SPEC["paths"].get(case.path, {}).get(case.method.lower(), {})
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if schema is None or case.body is None:
        return True
    return jsonschema_rs.validator_for({**schema, "components": _SPEC["components"]}).is_valid(case.body)

# Refusals no schema can rule out: the resource or its state exists only at runtime, the
# Idempotency-Key was already used for another request (schemathesis repeats generated keys), or
# the fuzzer's own stream of sign-ins tripped the sign-in throttle (429, documented).
RUNTIME_REFUSALS = {
    "unknown_item",
    "unknown_account",
    "idempotency_key_reused",
    "too_many_attempts",
    # Read gateway: tier-1 reads need a reason (policy, not schema); the body's Plaid fields are
    # validated by Plaid itself, whose refusal comes back as plaid_error; rate limits are runtime.
    "reason_required",
    # Plaid's own request fields pass through (additionalProperties), but never credentials.
    "credentials_not_allowed",
    "plaid_error",
    "plaid_rate_limited",
    "rate_limited",
    "item_login_required",
    # A schedule's dates are checked against today and against each other, its day against its unit,
    # and wire against recurring: rules a schema states in words (Schedule's description), not types.
    "invalid_schedule_date",
    "invalid_schedule_day",
    "empty_schedule",
    "invalid_network_for_schedule",
}
ACCEPTED = {401, 403, 404, 409}


def _astral_format_character_in(value):
    """Whether a generated value holds a format character (Cf) beyond the Basic Multilingual Plane.

    The spec's patterns name the refused invisible characters of the BMP; an ECMA pattern without
    the `u` flag cannot name the few beyond it (tag characters U+E0001..U+E007F, a handful of other
    format controls), so a 422 `invalid_characters` for one of them is expected, not a mismatch.
    """
    if isinstance(value, str):
        return any(ord(c) > 0xFFFF and unicodedata.category(c) == "Cf" for c in value)
    if isinstance(value, dict):
        return any(_astral_format_character_in(k) or _astral_format_character_in(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_astral_format_character_in(v) for v in value)
    return False


@schemathesis.check
def positive_data_acceptance_by_code(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    status = response.status_code
    if status < 300 or status in ACCEPTED or status >= 500:
        return None
    try:
        code = json.loads(response.content)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None
    if code in RUNTIME_REFUSALS:
        return None
    if code == "invalid_characters" and _astral_format_character_in(case.body):
        return None
    if not _body_valid_by_spec(case):
        return None
    raise AssertionError(f"Valid data should have been accepted, got {status} {code}: {response.text[:300]}")
