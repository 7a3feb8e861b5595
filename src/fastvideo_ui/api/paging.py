"""The headers of a paged listing: where the next page starts."""

from __future__ import annotations

from fastapi import Request


def link_next(request: Request, headers: dict[str, str], last_id: str) -> None:
    """`Link: <...?before=last_id>; rel="next"` and `X-Next-Before` on a page that more follow."""
    next_url = request.url.include_query_params(before=last_id)
    headers["Link"] = f'<{next_url.path}?{next_url.query}>; rel="next"'
    headers["X-Next-Before"] = last_id
