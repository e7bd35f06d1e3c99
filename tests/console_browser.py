"""Browser helpers for the console's staff jobs (issue 16), shared by the
``tests/test_console_<topic>_browser.py`` files.

Use it from a test module (this is not a test module, so importing it is allowed)::

    from tests.console_browser import assert_chinese_only, console  # noqa: F401 (fixture)

    @pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
    def test_my_job(services, console):
        console.sign_in()                       # makes staff "admin1" and signs in
        console.open("/admin/reminders/")      # waits for the page, checks Chinese, screenshots
        ...

``console`` is parametrized over :data:`WIDTHS` (the desktop 1366×768 and a phone 390×844), so
every test using it runs once per width; ``console.width`` says which (``"desktop"``/``"phone"``).
Screenshots go to ``<tmp_path>/screens/<width>-<nn>-<name>.png``.

:func:`assert_chinese_only` fails on any English word a person would read on the page: visible
text, the ``title``/``placeholder``/``aria-label``/``alt`` attributes, button values and the
page title. Allowed: :data:`ALLOWED_TERMS` (case-insensitive) and code-ish tokens (anything with
a digit, openids such as ``oBrowser``, URLs, e-mail addresses, file names).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import CHROMEDRIVER, CHROMIUM, PASSWORD, make_staff

#: Window sizes a staff job is tried at: name -> (width, height) in CSS pixels.
WIDTHS = {"desktop": (1366, 768), "phone": (390, 844)}

#: English a person may read on a console page (compared case-insensitively).
ALLOWED_TERMS = frozenset(t.lower() for t in (
    "openid", "unionid", "Excel", "XLSX", "CSV", "URL", "QR", "ID", "WeChat", "MP", "OK", "AppID",
    "AppSecret", "Token", "EncodingAESKey", "IP", "HTTPS", "HTTP", "API", "PDF", "PNG", "JPG",
    "JPEG", "Ctrl", "Shift", "Enter", "Tab", "Esc", "am", "pm", "AM", "PM", "km", "kg", "cm",
    "KB", "MB", "GB", "msg_id", "msgid", "UTC", "WPS", "APP",
))

_SKIP_BUTTON_TYPES = ("submit", "button", "reset")

#: Everything a person reads: visible text nodes and the readable attributes of visible elements.
_READABLE_JS = r"""
const out = [];
function visible(el) {
  if (!el || !(el instanceof Element)) return false;
  const st = window.getComputedStyle(el);
  if (st.display === 'none' || st.visibility === 'hidden' || st.opacity === '0') return false;
  const r = el.getClientRects();
  return r.length > 0;
}
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
let n;
while ((n = walker.nextNode())) {
  const p = n.parentElement;
  if (!p || ['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'CODE', 'KBD', 'SAMP'].includes(p.tagName)) continue;
  if (p.closest('[data-code]')) continue;
  const t = n.textContent.trim();
  if (t && visible(p)) out.push(['text', p.tagName.toLowerCase(), t]);
}
for (const el of document.querySelectorAll('[title],[placeholder],[aria-label],[alt],[data-original-title]')) {
  if (el.tagName === 'HTML' || el.tagName === 'HEAD' || el.closest('head')) continue;
  const box = el.tagName === 'OPTION' ? el.parentElement : el;
  if (!visible(box) && el.getAttribute('aria-label') === null) continue;
  for (const a of ['title', 'placeholder', 'aria-label', 'alt', 'data-original-title']) {
    const v = el.getAttribute(a);
    if (v && v.trim() && visible(box)) out.push([a, el.tagName.toLowerCase(), v.trim()]);
  }
}
for (const el of document.querySelectorAll('input[type=submit],input[type=button],input[type=reset]')) {
  if (visible(el) && el.value) out.push(['value', 'input', el.value]);
}
for (const sel of document.querySelectorAll('select')) {
  if (!visible(sel)) continue;
  for (const o of sel.options) if (o.text.trim()) out.push(['option', 'option', o.text.trim()]);
}
out.push(['title', 'title', document.title || '']);
return out;
"""

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_'’.\-]*")
_CODEISH = (
    re.compile(r".*\d"),                       # numbers, ids, H00003, msg ids, 2026-12-17
    re.compile(r"o[A-Z0-9_\-][A-Za-z0-9_\-]*$"),  # openids (oBrowser, oAb3…)
    re.compile(r"[A-Za-z]+://"),               # URLs
    re.compile(r".*\.(xlsx|csv|png|jpg|jpeg|pdf|txt|json|toml)$", re.I),  # file names
    re.compile(r".*_.*"),                      # snake_case tokens are code, shown as code
)
_URL_OR_MAIL = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+")


def english_words(text: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    """The English words in ``text`` a person would read (not allowed, not code-ish).

    ``text``: one piece of page text. Returns the offending words in order (may repeat)."""
    text = _URL_OR_MAIL.sub(" ", text)
    found = []
    for m in _WORD.finditer(text):
        word = m.group(0).strip(".'’-")
        if len(word) < 2:
            continue
        low = word.lower()
        if low in ALLOWED_TERMS or low in allowed:
            continue
        if any(p.match(word) for p in _CODEISH):
            continue
        found.append(word)
    return found


def readable_text(driver) -> list[tuple[str, str, str]]:
    """``[(where, tag, text)]``: what a person reads on the current page (see module doc)."""
    return [tuple(item) for item in driver.execute_script(_READABLE_JS)]


def assert_chinese_only(driver, allowed: tuple[str, ...] = (), page: str = "") -> None:
    """Fail when the current page shows an English word a person would read.

    ``allowed``: extra terms allowed on this page (case-insensitive). ``page``: a name for the
    failure message (default: the URL). Raises ``AssertionError`` listing each word and where."""
    extra = frozenset(a.lower() for a in allowed)
    leaks = []
    for where, tag, text in readable_text(driver):
        words = english_words(text, extra)
        if words:
            leaks.append(f"{where} <{tag}> {text[:120]!r}: {', '.join(sorted(set(words)))}")
    assert not leaks, (f"English a person would read on {page or driver.current_url}:\n  "
                       + "\n  ".join(leaks))


@dataclass
class Console:
    """A signed-in (after :meth:`sign_in`) Chromium on the live console at one width."""

    driver: object
    base: str
    width: str
    shots: Path
    services: object
    _count: int = field(default=0)

    @property
    def phone(self) -> bool:
        """True at the phone width."""
        return self.width == "phone"

    def wait(self, seconds: float = 15):
        """A ``WebDriverWait`` on this browser."""
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, seconds)

    def sign_in(self, username: str = "admin1", role: str = "admin", make: bool = True) -> None:
        """Create the staff account (unless ``make`` is False) and sign in with it."""
        from selenium.webdriver.common.by import By

        if make:
            make_staff(self.services, username, role)
        d = self.driver
        d.get(self.base + "/admin/login")
        d.find_element(By.ID, "username").send_keys(username)
        d.find_element(By.ID, "password").send_keys(PASSWORD)
        d.find_element(By.ID, "login-submit").click()
        self.wait().until(lambda x: "/admin/login" not in x.current_url)

    def open(self, path: str, name: str | None = None, chinese: bool = True,
             allowed: tuple[str, ...] = ()) -> None:
        """Go to ``path`` (under the console's base URL), screenshot it, and (``chinese``)
        :func:`assert_chinese_only` on it."""
        self.driver.get(self.base + path)
        self.wait().until(lambda x: x.execute_script("return document.readyState") == "complete")
        self.check(name or path, chinese=chinese, allowed=allowed)

    def check(self, name: str, chinese: bool = True, allowed: tuple[str, ...] = ()) -> Path:
        """Screenshot the current page as ``name`` and (``chinese``) check it is Chinese only.
        Returns the screenshot's path."""
        shot = self.screenshot(name)
        if chinese:
            assert_chinese_only(self.driver, allowed, page=f"{name} ({self.width})")
        return shot

    def screenshot(self, name: str) -> Path:
        """Save a full-width screenshot under ``<tmp_path>/screens``; returns its path."""
        self._count += 1
        safe = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "page"
        path = self.shots / f"{self.width}-{self._count:02d}-{safe}.png"
        self.driver.save_screenshot(str(path))
        return path

    def page_fits(self) -> bool:
        """True when the page has no horizontal scroll bar at this width."""
        return not self.too_wide()

    def too_wide(self) -> list[str]:
        """The outermost visible elements reaching past the window's right edge (empty when the
        page fits), as ``tag#id.class (right edge px)`` for failure messages."""
        return self.driver.execute_script("""
          if (document.documentElement.scrollWidth <= window.innerWidth + 1) return [];
          const out = [];
          for (const el of document.body.querySelectorAll('*')) {
            const r = el.getBoundingClientRect();
            if (r.width === 0 || r.right <= window.innerWidth + 1) continue;
            let p = el.parentElement, inner = false;
            while (p && p !== document.body) {
              const st = getComputedStyle(p);
              if (st.overflowX === 'auto' || st.overflowX === 'scroll' || st.overflowX === 'hidden') { inner = true; break; }
              p = p.parentElement;
            }
            if (inner) continue;
            out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                     (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '') +
                     ' (' + Math.round(r.right) + 'px)');
            if (out.length > 8) break;
          }
          return out.length ? out : ['document (' + document.documentElement.scrollWidth + 'px)'];
        """)


@pytest.fixture(params=list(WIDTHS))
def console(request, services, live_console, browser, tmp_path):
    """A :class:`Console` at each width of :data:`WIDTHS` (the test runs once per width).

    Skips when Debian's chromium/chromium-driver are missing. Uses the ``services``,
    ``live_console`` and ``browser`` fixtures of ``tests/conftest.py``."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    w, h = WIDTHS[request.param]
    browser.set_window_size(w, h)
    # the window includes the browser's frame: make the page itself exactly w px wide
    inner = browser.execute_script("return window.innerWidth")
    if inner != w:
        browser.set_window_size(w + (w - inner), h)
    shots = tmp_path / "screens"
    shots.mkdir(exist_ok=True)
    return Console(driver=browser, base=live_console, width=request.param, shots=shots,
                   services=services)
