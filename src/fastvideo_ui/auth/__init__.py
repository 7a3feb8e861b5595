"""Credentials that outlive a request: how strong a token must be, and the
server-side sessions the web UI signs in for."""
