"""The page for people: static files (HTML, CSS, JavaScript modules) that call qa's own HTTP API from the browser.

No build step and nothing fetched from elsewhere: what is in ``static/`` is
what the browser runs. :mod:`qa.api.page` serves it at ``/``; every piece of a
document (text, name, metadata) is put on the page as text, never as HTML.
"""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).parent / "static"
