"""Browser tests drive Debian's Chromium through Playwright against pytest-django's live server.

Every page a test opens is watched: a console error or a Content-Security-Policy violation fails
the test, because either means something the user sees is broken.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..factories import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(event.violatedDirective + ' ' + event.blockedURI);
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium, for one module's tests. Not for the whole session: while Playwright's sync API is
    started, this thread has an event loop marked running, and Django then keeps the thread's
    database connections per context (asgiref's Local) instead of per thread. A later test's
    connection, opened meanwhile, was then out of reach once Playwright stopped and was never
    closed (the session left connected at the end of a run). So Playwright is stopped after each
    module, and the connections opened while it ran are closed first."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"Chromium is needed for the browser tests: apt-get install chromium (looked for {CHROMIUM}).")
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
    # browser steps are still synchronous and safe. Only while it runs: elsewhere Django still
    # refuses a database call from async code.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()
            connections.close_all()


class PageProblems:
    def __init__(self) -> None:
        self.console_errors: list[str] = []
        self.csp_violations: list[str] = []


def _watched_page(browser, problems: PageProblems):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.add_init_script(WATCH_CSP)
    page.on(
        "console",
        lambda message: (message.type == "error" or "Error:" in message.text)
        and problems.console_errors.append(message.text),
    )
    page.on("pageerror", lambda error: problems.console_errors.append(str(error)))

    def collect_csp() -> None:
        try:
            problems.csp_violations.extend(page.evaluate("window.__cspViolations || []"))
        except Exception:  # the page may be mid-navigation; the console also reports violations
            pass

    page.on("framenavigated", lambda frame: None)
    return context, page, collect_csp


@pytest.fixture
def new_page(browser) -> Iterator[object]:
    """A factory of watched pages, one browser context each (so two people can be logged in)."""
    opened: list[tuple[object, object, object, PageProblems]] = []

    def open_page():
        problems = PageProblems()
        context, page, collect = _watched_page(browser, problems)
        opened.append((context, page, collect, problems))
        return page

    yield open_page
    complaints: list[str] = []
    for context, _page, collect, problems in opened:
        collect()
        complaints += [f"console error: {text}" for text in problems.console_errors]
        complaints += [f"CSP violation: {text}" for text in problems.csp_violations]
        context.close()
    assert not complaints, "\n".join(complaints)


@pytest.fixture
def page(new_page):
    return new_page()


def log_in(page, live_server, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


def assert_accessible(page, live_server, *, context: str = "") -> None:
    """Run axe-core (vendored) on the page: no WCAG 2.2 A or AA violations.

    One known exception, and only it: NHS.UK frontend marks a radio that reveals a question with
    `aria-expanded`, which ARIA 1.2 does not list for radios. The GOV.UK and NHS design systems
    keep it on purpose, because screen readers announce it and their users' research found it
    helps (alphagov/govuk-frontend#979, w3c/aria#1404)."""
    # A page whose navigation has committed but whose document is still being parsed has no
    # <head> to add axe to yet.
    page.wait_for_load_state("domcontentloaded")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=f"{live_server.url}/static/vendor/axe-core/axe.min.js")
    results = page.evaluate(
        """async () => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}});
            const revealingRadio = (node) => node.target.length === 1
                && document.querySelector(node.target[0])?.matches('input[type=radio][aria-controls]')
                && node.any.concat(node.all, node.none).every(check => /aria-expanded/.test(check.message));
            return r.violations
                .map(v => v.id === 'aria-allowed-attr' ? {...v, nodes: v.nodes.filter(n => !revealingRadio(n))} : v)
                .filter(v => v.nodes.length)
                .map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target.join(' ')).slice(0, 3).join('; ')})`);
        }"""
    )
    assert not results, f"axe-core on {context or page.url}:\n" + "\n".join(results)
