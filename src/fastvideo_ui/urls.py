"""How a URL that may carry a secret is shown and sent. A webhook URL's password
(or lone user part, often a token) and query values are the receiver's: every
place that shows the URL (a job's JSON, its deliveries, the logs) shows it
redacted. Its own module, so the jobs layer can redact without the webhooks'."""

from __future__ import annotations

import base64
from urllib.parse import unquote, urlsplit, urlunsplit


def redacted(url: str) -> str:
    """The URL as it may be shown (job JSON, deliveries, logs): a password,
    a lone user part (often a token), every query value and the fragment
    become ***. The path stays: it is what tells receivers apart."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:***@{host}" if colon else f"***@{host}"
    query = "&".join(f"{name}=***" if equals else "***"
                     for name, equals, _ in (item.partition("=") for item in parts.query.split("&")))
    return urlunsplit((parts.scheme, netloc, parts.path, query if parts.query else "",
                       "***" if parts.fragment else ""))


def split_credentials(url: str) -> tuple[str, str | None]:
    """The URL without its user:password, and the Basic authorization they make
    (or None): HTTP clients send a URL's credentials that way, and httpcore,
    which posts webhooks, would otherwise drop them."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    credentials = f"{unquote(user)}:{unquote(password)}".encode()
    return urlunsplit(parts._replace(netloc=host)), "Basic " + base64.b64encode(credentials).decode()
