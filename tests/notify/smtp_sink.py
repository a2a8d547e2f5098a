"""A real SMTP server (aiosmtpd) for the alert email tests.

Usage: smtp_sink.py PORT OUTFILE [CERT KEY]. With CERT and KEY it offers STARTTLS and refuses
mail before it (require_starttls). Each message is appended to OUTFILE as one JSON line: whether
it arrived over TLS, its subject, content type and decoded parts, and the raw message. Prints "ready" once listening.
"""
import asyncio
import email
import email.policy
import json
import ssl
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, path):
        self.path = path

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = {part.get_content_type(): part.get_content() for part in message.walk() if not part.is_multipart()}
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "subject": str(message["subject"]),
            "type": message.get_content_type(),
            "parts": parts,
            "raw": envelope.content.decode("utf-8", "replace"),
        }
        with open(self.path, "a") as out:
            out.write(json.dumps(record) + "\n")
        return "250 OK"


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    kwargs = {}
    if len(sys.argv) > 4:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
        kwargs = {"tls_context": context, "require_starttls": True}
    controller = Controller(Sink(path), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print("ready", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
