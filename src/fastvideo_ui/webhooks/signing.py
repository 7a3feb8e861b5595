"""Webhook signatures in the Standard Webhooks scheme (the one OpenAI's own
webhooks use), so receivers can verify them with an existing library:

    webhook-id:        the delivery's id (the same on every retry: deduplicate on it)
    webhook-timestamp: seconds since the epoch, when this attempt was sent
    webhook-signature: v1,<base64 of HMAC-SHA256(key, "<id>.<timestamp>.<body>")>

A secret written `whsec_<base64>` (what this server makes) means the bytes it
encodes; any other secret is used as its UTF-8 bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def key_of(secret: str) -> bytes:
    if secret.startswith(PREFIX):
        return base64.b64decode(secret[len(PREFIX):])
    return secret.encode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key_of(secret), signed, hashlib.sha256).digest()).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }


def verify(secret: str, message_id: str, timestamp: str, body: bytes, signature_header: str) -> bool:
    """True when one of the header's space-separated signatures is this body's."""
    expected = signature(secret, message_id, int(timestamp), body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signature_header.split())
