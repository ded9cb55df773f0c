"""A Sphinx extension for the book's HTML (``book/_config.yml``, ``sphinx.extra_extensions``).

Sphinx 7.4 (the Sphinx of jupyter-book 1.x) writes an inline script that an extension adds after the
builder has started twice into every page, once under the file name ``None`` and once under ``''``
(sphinx-doc/sphinx#13402, fixed in Sphinx 8.2). sphinx-thebe adds one
(``const THEBE_JS_URL = ...``), so every page raised "Identifier 'THEBE_JS_URL' has already been
declared" in the browser. Each page's scripts are deduplicated here, first copy kept
(``tests/test_browser.py`` fails on any JavaScript error).
"""

from __future__ import annotations


def _key(script) -> tuple:
    """A script tag's identity: its file ('' for an inline script) and its attributes (the body)."""
    attributes = getattr(script, "attributes", {}) or {}
    return (getattr(script, "filename", script) or "", tuple(sorted((k, str(v)) for k, v in attributes.items())))


def dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context``: keep the first of each identical script tag in ``context["script_files"]``."""
    if "script_files" not in context:
        return
    seen, kept = set(), []
    for script in context["script_files"]:
        if (key := _key(script)) not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
