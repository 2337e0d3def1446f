"""Rendering pages: one Jinja2 environment with autoescaping, and the headers every page carries."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import jinja2
from aiohttp import web

STYLE = """
body { font: 17px/1.5 system-ui, sans-serif; margin: 0; background: #f5f7fa; color: #1a1d21; }
main { max-width: 34rem; margin: 0 auto; padding: 2rem 1.25rem; }
h1 { font-size: 1.5rem; line-height: 1.25; }
.card { background: #fff; border-radius: 12px; padding: 1.25rem; box-shadow: 0 1px 3px #0002; }
.card { overflow-wrap: anywhere; }
.code { font: 700 2.4rem/1.2 ui-monospace, monospace; letter-spacing: .3em; text-align: center;
        text-indent: .3em; background: #eef2ff; border-radius: 8px; padding: .75rem 0;
        margin: 1rem 0; }
button, .button { display: inline-block; font: inherit; font-weight: 600; color: #fff;
        background: #111; border: 0; border-radius: 999px; padding: .7rem 1.4rem;
        text-decoration: none; cursor: pointer; }
.muted { color: #5b6470; font-size: .93rem; }
.warn { border-left: 4px solid #d97706; padding-left: .75rem; }
"""


class Pages:
    """Renders the templates in `web/templates` and sets safe headers on the response."""

    def __init__(self, *, form_targets: list[str]) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        style_hash = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
        # No scripts at all; the one stylesheet is pinned by hash; forms may go only to us and to
        # X (form-action also governs the redirect that follows a form's POST).
        self._csp = "; ".join(
            [
                "default-src 'none'",
                f"style-src 'sha256-{style_hash}'",
                f"form-action 'self' {' '.join(form_targets)}",
                "frame-ancestors 'none'",
                "base-uri 'none'",
            ]
        )

    def render(self, template: str, *, status: int = 200, **context: Any) -> web.Response:
        """A page from `template`, never cached and never sending a referrer onwards."""
        html = self._env.get_template(template).render(style=STYLE, **context)
        response = web.Response(text=html, status=status, content_type="text/html")
        self.secure(response)
        return response

    def secure(self, response: web.StreamResponse) -> None:
        """Headers for any answer of ours: pages carry codes and form tokens, so none is cached."""
        response.headers["Content-Security-Policy"] = self._csp
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"


PAGES = web.AppKey("pages", Pages)
