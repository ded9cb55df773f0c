"""The built book as a reader gets it: every page opened in headless Chromium with the network off.

``make browser`` (the last step of ``make test``, after the strict book build) runs this module;
a plain ``pytest`` / ``make unit`` deselects it (marker ``browser``, ``addopts`` in pyproject.toml),
because it needs a built book. It reads the build in ``$ADVNB_BROWSER_HTML`` (default
``book/_build/html``), serves it from a local HTTP server on 127.0.0.1, aborts (and counts) every request
to any other host, and asserts for every page (search and genindex excepted):

- MathJax typeset every formula: every ``.math`` element Sphinx wrote holds an ``mjx-container``, none
  is a MathJax error (an unknown macro of ``_config.yml`` would be one), and no raw ``\\(``, ``\\[``,
  ``$$`` or ``\\begin{`` is left in the visible text outside code;
- every ``<img>`` loaded (``naturalWidth > 0``);
- every link into the build resolves: the file exists and, for ``page.html#anchor``, the anchor is an id
  on that page;
- on the scoreboard, every verdict is a visible badge with the colour ``book/_static/advnb.css`` gives it;
- the console shows no JavaScript error;
- no request left 127.0.0.1.

Screenshots of the scoreboard and of theorem2 go to ``screenshots/`` beside the ``html`` folder
(``book/_build/screenshots/``). Chromium is Debian's ``chromium`` (``.ci/run`` installs it), driven by
Playwright for Python, which here never downloads a browser of its own.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import json
import os
import re
import shutil
import threading
import urllib.parse
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("ADVNB_BROWSER_HTML", ROOT / "book" / "_build" / "html")).resolve()
SCREENSHOTS = HTML.parent / "screenshots"
SCOREBOARD = "results/summary.html"
CHAPTER_SHOT = "chapters/theorem2.html"
SKIP_PAGES = {"search.html", "genindex.html"}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RAW_MATH = ("\\(", "\\[", "$$", "\\begin{")
VERDICTS = {"yes": "yes", "partly": "partly", "no": "no", "not-testable": "not testable"}


def _chromium() -> str | None:
    return os.environ.get("ADVNB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


if not _chromium():  # one line for the whole module
    pytest.skip("no chromium: install it with `apt-get install chromium` (Debian; .ci/run does it)",
                allow_module_level=True)
pytest.importorskip("playwright", reason="no playwright: pip install -e '.[dev]'")


def _pages() -> list[str]:
    """Every page of the build, as paths relative to the html folder."""
    return sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
                  if p.relative_to(HTML).parts[0] not in ("_static", "_sources", "_images")
                  and p.relative_to(HTML).as_posix() not in SKIP_PAGES)


def _redirect(name: str) -> str | None:
    """The target of a page that only redirects (jupyter-book's index.html), else None."""
    m = re.match(r'\s*<meta http-equiv="Refresh" content="0; url=([^"]+)"', (HTML / name).read_text())
    return m and m.group(1)


# In the page: wait for MathJax (when the page loads it), then measure everything the tests assert.
MEASURE = r"""
async () => {
  const out = {};
  out.mathjax_loaded = !!(window.MathJax && window.MathJax.startup && window.MathJax.startup.promise);
  if (out.mathjax_loaded) { await window.MathJax.startup.promise; }
  const math = Array.from(document.querySelectorAll('.math'));
  out.n_math = math.length;
  out.untypeset = math.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80));
  out.n_mjx = document.querySelectorAll('mjx-container').length;
  out.merror = Array.from(document.querySelectorAll('mjx-merror')).map(e => {
    const c = e.closest('mjx-container'); return (c && c.getAttribute('aria-label')) || e.textContent; });
  // Visible text outside code, formulas and scripts: where raw LaTeX would show.
  const skip = 'pre, code, script, style, textarea, mjx-container, .highlight';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip) || !el.checkVisibility()) continue;
    parts.push(n.nodeValue);
  }
  out.text = parts.join('');
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(img => { img.loading = 'eager';
    return img.complete ? null : new Promise(r => { img.onload = img.onerror = r; }); }));
  out.n_img = imgs.length;
  out.broken_img = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.currentSrc || i.src);
  out.links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
  out.badges = Array.from(document.querySelectorAll('.advnb-badge')).map(b => {
    const r = b.getBoundingClientRect(), s = getComputedStyle(b);
    return {cls: b.className, text: b.textContent.trim(), w: r.width, h: r.height, visible: b.checkVisibility(),
            bg: s.backgroundColor, fg: s.color};
  });
  // Badges per body row of every table that holds one (the scoreboard: one verdict per claim).
  out.badge_rows = Array.from(document.querySelectorAll('table')).filter(t => t.querySelector('.advnb-badge'))
    .flatMap(t => Array.from(t.tBodies).flatMap(b => Array.from(b.rows)))
    .map(tr => tr.querySelectorAll('.advnb-badge').length);
  return out;
}
"""


class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if (k == "id" or (k == "name" and tag == "a")) and v:
                self.ids.add(v)


@functools.cache
def _ids(path: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


def _css_colours() -> dict[str, tuple[int, int, int]]:
    """verdict class suffix -> the rgb of its background-color in the built advnb.css."""
    css = (HTML / "_static" / "advnb.css").read_text()
    out = {}
    for suffix, body in re.findall(r"\.advnb-badge--([\w-]+)\s*\{([^}]*)\}", css):
        hexa = re.search(r"background-color:\s*#([0-9a-fA-F]{6})", body).group(1)
        out[suffix] = tuple(int(hexa[i:i + 2], 16) for i in (0, 2, 4))
    return out


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site():
    """Open every page once; return {page: measurements}, the blocked requests and the server's origin."""
    from playwright import sync_api
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book at {HTML}: run `make book-strict` first (or set ADVNB_BROWSER_HTML)")
    pages = _pages()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(HTML)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    blocked: list[str] = []
    results: dict[str, dict] = {}
    redirects: dict[str, str] = {}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_FLAGS)
            context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")

            def route(r):
                if r.request.url.startswith(origin + "/"):
                    r.continue_()
                else:
                    blocked.append(r.request.url)
                    r.abort()

            context.route("**/*", route)
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            for name in pages:
                if target := _redirect(name):  # nothing to look at: its target is checked as a link
                    redirects[name] = urllib.parse.urljoin(f"{origin}/{name}", target)
                    continue
                errors.clear()
                page.goto(f"{origin}/{name}", wait_until="load")
                res = page.evaluate(MEASURE)
                page.wait_for_timeout(50)  # let late console messages arrive
                res["errors"] = list(errors)
                results[name] = res
                if name in (SCOREBOARD, CHAPTER_SHOT):
                    page.screenshot(path=SCREENSHOTS / (Path(name).stem + ".png"), full_page=True)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    # What was looked at, for a person (the tests below assert on it).
    report = {"html": str(HTML), "pages": len(results), "redirects": redirects, "blocked_requests": len(blocked),
              "formulas": sum(r["n_math"] for r in results.values()),
              "mjx_containers": sum(r["n_mjx"] for r in results.values()),
              "images": sum(r["n_img"] for r in results.values()),
              "links_into_build": sum(h.startswith(origin + "/") for r in results.values() for h in r["links"]),
              "badges": len(results.get(SCOREBOARD, {}).get("badges", []))}
    (SCREENSHOTS / "browser-report.json").write_text(json.dumps(report, indent=1) + "\n")
    return {"pages": results, "redirects": redirects, "blocked": blocked, "origin": origin}


def test_the_build_has_pages(site):
    pages = site["pages"]
    assert SCOREBOARD in pages and CHAPTER_SHOT in pages and len(pages) >= 10, sorted(pages)


def test_no_request_leaves_the_machine(site):
    assert site["blocked"] == [], f"{len(site['blocked'])} requests to other hosts: {sorted(set(site['blocked']))}"


def test_mathjax_typesets_every_formula(site):
    bad = []
    for name, r in site["pages"].items():
        if r["n_math"]:
            if not r["mathjax_loaded"]:
                bad.append(f"{name}: {r['n_math']} formulas, MathJax not loaded")
            if r["untypeset"]:
                bad.append(f"{name}: {len(r['untypeset'])} formulas not typeset, e.g. {r['untypeset'][:3]}")
            if r["n_mjx"] < r["n_math"]:
                bad.append(f"{name}: {r['n_mjx']} mjx-container for {r['n_math']} formulas")
        if r["merror"]:
            bad.append(f"{name}: MathJax errors in {r['merror'][:3]}")
        for raw in RAW_MATH:
            i = r["text"].find(raw)
            if i >= 0:
                bad.append(f"{name}: raw {raw!r} visible: ...{r['text'][max(0, i - 40):i + 60]!r}...")
    assert not bad, "\n".join(bad)
    assert sum(r["n_math"] for r in site["pages"].values()) > 0, "no page has a formula: is this the book?"


def test_every_image_loads(site):
    bad = [f"{name}: {src}" for name, r in site["pages"].items() for src in r["broken_img"]]
    assert not bad, "images that did not load:\n" + "\n".join(bad)
    assert sum(r["n_img"] for r in site["pages"].values()) > 0


def test_every_internal_link_resolves(site):
    origin, bad, n = site["origin"], [], 0
    links = [(name, href) for name, r in site["pages"].items() for href in r["links"]]
    links += list(site["redirects"].items())
    for name, href in links:
        if not href.startswith(origin + "/"):
            continue
        url = urllib.parse.urlsplit(href)
        path = urllib.parse.unquote(url.path).lstrip("/")
        target = HTML / path
        if path == "" or path.endswith("/"):
            target = target / "index.html"
        n += 1
        if not target.is_file():
            bad.append(f"{name}: {href} (no file {path})")
        elif url.fragment and target.suffix == ".html" and urllib.parse.unquote(url.fragment) not in _ids(target):
            bad.append(f"{name}: {href} (no id {url.fragment!r} in {path})")
    assert not bad, f"{len(bad)} of {n} internal links do not resolve:\n" + "\n".join(bad)
    assert n > 0


def test_scoreboard_badges_are_visible_and_coloured(site):
    r = site["pages"][SCOREBOARD]
    colours = _css_colours()
    assert set(colours) == set(VERDICTS), colours
    badges = r["badges"]
    assert badges, "no verdict badge on the scoreboard"
    assert set(r["badge_rows"]) == {1} and len(badges) == len(r["badge_rows"]), r["badge_rows"]
    for b in badges:
        suffix = next(c.removeprefix("advnb-badge--") for c in b["cls"].split() if c.startswith("advnb-badge--"))
        assert b["text"] == VERDICTS[suffix], b
        assert b["visible"] and b["w"] > 0 and b["h"] > 0, b
        assert b["bg"] == "rgb({}, {}, {})".format(*colours[suffix]), b
        assert b["fg"] != b["bg"], b


def test_no_javascript_errors(site):
    bad = [f"{name}: {e}" for name, r in site["pages"].items() for e in r["errors"]]
    assert not bad, "\n".join(bad)


def test_screenshots_were_saved(site):
    for name in (SCOREBOARD, CHAPTER_SHOT):
        shot = SCREENSHOTS / (Path(name).stem + ".png")
        assert shot.is_file() and shot.stat().st_size > 10_000, shot
