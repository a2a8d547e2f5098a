"""Verifies captured callbacks with the official Standard Webhooks library (not our code).

stdin: one JSON object per line, {"secret": "whsec_...", "headers": {...}, "body": "..."}.
stdout: one line per input, "ok" or "bad: <why>".
"""
import json
import sys

from standardwebhooks.webhooks import Webhook

for line in sys.stdin:
    if not line.strip():
        continue
    case = json.loads(line)
    try:
        Webhook(case["secret"]).verify(case["body"], case["headers"])
        print("ok", flush=True)
    except Exception as error:  # the library raises WebhookVerificationError
        print(f"bad: {error}", flush=True)
