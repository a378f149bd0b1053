"""The Connect webview in a real browser: each journey of its UI contract, driven through Debian's
Chromium by Playwright (sync API), and its outcome checked through the 2.0 API.

Run by tests/api/webview_browser.rs against a fresh bankd; by hand:

    BANKD_BASE=http://127.0.0.1:PORT BANKD_CLIENT_ID=... BANKD_CLIENT_SECRET=... \\
    BANKD_REDIRECT_URI=https://app.example/callback BANKD_SANDBOX_UUID=... \\
    BANKD_SCREENSHOTS=/tmp/shots python test_webview.py

Optional: BANKD_TEST_CHROMIUM (default /usr/bin/chromium), BANKD_DOCS_SCREENSHOTS (a directory:
the connect journey is also saved there at a desktop and a phone viewport, for the docs).

The app's redirect URI is never reached over the network: the browser context answers it with a
tiny page and records every URL requested there (redirect hops included), which is how a journey's
end and its query are seen. Prints one `ok:` line per scenario; exits 1 on the first failure.
"""

import json
import os
import re
import secrets
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect, sync_playwright

BASE = os.environ["BANKD_BASE"].rstrip("/")
CLIENT_ID = os.environ["BANKD_CLIENT_ID"]
CLIENT_SECRET = os.environ["BANKD_CLIENT_SECRET"]
REDIRECT_URI = os.environ["BANKD_REDIRECT_URI"]
SANDBOX_UUID = os.environ["BANKD_SANDBOX_UUID"]
SCREENSHOTS = Path(os.environ["BANKD_SCREENSHOTS"])
DOCS = Path(os.environ["BANKD_DOCS_SCREENSHOTS"]) if os.environ.get("BANKD_DOCS_SCREENSHOTS") else None
CHROMIUM = os.environ.get("BANKD_TEST_CHROMIUM") or "/usr/bin/chromium"

TIMEOUT_MS = 30_000
APP_ORIGIN = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(REDIRECT_URI))
EVIL_REDIRECT_URI = "https://evil.example/cb"
EVIL_ORIGIN = "https://evil.example"
LANDING_TITLE = "Back at the app"  # the page served in place of the app's redirect URI
BANK = "Sandbox Bank"
# The bank's link: its name, and perhaps its countries after it ("Sandbox Bank FR"), never another
# bank whose name holds it ("Sandbox Bank (PSD2)").
BANK_LINK = re.compile(r"^Sandbox Bank( [A-Z]{2}(, [A-Z]{2})*)?$")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

expect.set_options(timeout=TIMEOUT_MS)

# The API is on loopback: never through a proxy from the environment.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# ---- The API ----


def api(method, path, token=None, body=None, expected=(200,)):
    """Calls the API; asserts the status is one of `expected`; returns (status, JSON or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with _http.open(request, timeout=30) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    assert status in expected, f"{method} {path}: HTTP {status}, expected {expected}: {text}"
    return status, (json.loads(text) if text else None)


class User:
    """A user of the test client, created through the API, with its permanent token."""

    def __init__(self, token=None):
        if token is None:
            _, body = api("POST", "/2.0/auth/init", body={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
            token = body["auth_token"]
        self.token = token

    @staticmethod
    def from_code(code):
        """The user a webview created, from the `code` of its final redirect."""
        body = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": code}
        _, answer = api("POST", "/2.0/auth/token/access", body=body)
        return User(answer["access_token"])

    def code(self):
        """A single-use code for a webview URL."""
        _, body = api("GET", "/2.0/auth/token/code?type=singleAccess", self.token)
        return body["code"]

    def accounts(self):
        return api("GET", "/2.0/users/me/accounts?all", self.token)[1]["accounts"]

    def set_disabled(self, id_account, disabled):
        api("POST", f"/2.0/users/me/accounts/{id_account}?all", self.token, {"disabled": disabled})

    def connections(self):
        return api("GET", "/2.0/users/me/connections", self.token)[1]["connections"]

    def connect(self, login):
        body = {"connector_uuid": SANDBOX_UUID, "login": login, "password": "1234"}
        return api("POST", "/2.0/users/me/connections", self.token, body, expected=(201,))[1]

    def sync(self, id_connection):
        return api("PUT", f"/2.0/users/me/connections/{id_connection}", self.token)[1]

    def connection(self, id_connection, expected=(200,)):
        return api("GET", f"/2.0/users/me/connections/{id_connection}", self.token, expected=expected)


# ---- The browser ----


def webview_url(page, **params):
    """A webview entry URL; `urlencode` escapes the `/` and `+` a code may hold."""
    return f"{BASE}/webview/en/{page}?" + urllib.parse.urlencode(params)


def connect_url(state, code=None):
    """The entry URL of a connect journey; without `code` the webview makes a new user."""
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "state": state}
    return webview_url("connect", **params, **({"code": code} if code else {}))


def new_state(scenario):
    # A space and a slash: the state must come back byte for byte.
    return f"{scenario} {secrets.token_hex(4)}/x"


class Journey:
    """One scenario's browser context (its own cookies), with the app's redirect URI answered
    locally and every request to it, or to evil.example, recorded."""

    def __init__(self, browser, scenario, viewport=DESKTOP, docs_prefix=None, phone=False):
        self.scenario = scenario
        self.docs_prefix = docs_prefix if DOCS else None
        self.steps = 0
        self.reached = []  # URLs requested under REDIRECT_URI, redirect hops included
        self.evil = []  # URLs requested under EVIL_ORIGIN
        self.context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone, locale="en-US")
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.on("request", self._requested)
        self.context.route(f"{APP_ORIGIN}/**", self._landing)
        self.context.route(f"{EVIL_ORIGIN}/**", self._landing)
        self.page = self.context.new_page()

    def _requested(self, request):
        if request.url.startswith(REDIRECT_URI):
            self.reached.append(request.url)
        elif request.url.startswith(EVIL_ORIGIN):
            self.evil.append(request.url)

    @staticmethod
    def _landing(route):
        route.fulfill(
            status=200,
            content_type="text/html; charset=utf-8",
            body=f"<!doctype html><title>{LANDING_TITLE}</title><h1>{LANDING_TITLE}</h1>",
        )

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        """On a failure, saves `<scenario>-failure.png` and tells where the browser was."""
        if error is not None:
            try:
                path = SCREENSHOTS / f"{self.scenario}-failure.png"
                self.page.screenshot(path=path, full_page=True)
                print(f"[{self.scenario}] failed at {self.page.url} (screenshot {path})", file=sys.stderr)
                print(f"[{self.scenario}] app redirects seen: {self.reached}", file=sys.stderr)
                print(
                    f"[{self.scenario}] the page:\n{self.page.locator('body').aria_snapshot(timeout=5000)}",
                    file=sys.stderr,
                )
            except PlaywrightError as shot_error:
                print(f"[{self.scenario}] no failure screenshot: {shot_error}", file=sys.stderr)
        self.context.close()
        return False

    def shot(self, step):
        """Saves the page as `<scenario>-NN-<step>.png` (and for the docs when asked)."""
        self.steps += 1
        self.page.screenshot(path=SCREENSHOTS / f"{self.scenario}-{self.steps:02d}-{step}.png", full_page=True)
        if self.docs_prefix:
            self.page.screenshot(path=DOCS / f"{self.docs_prefix}-{self.steps}-{step}.png")

    def h1(self, name, exact=True):
        return self.page.get_by_role("heading", level=1, name=name, exact=exact)

    def wait(self, ms):
        """Sleeps while Playwright keeps dispatching its events."""
        self.page.wait_for_timeout(ms)

    def redirect(self, timeout_ms=TIMEOUT_MS):
        """Waits until the browser asks for the app's redirect URI; returns that URL's query as a
        dict (each parameter once). Redirect hops count: a 303 straight to the app is seen too."""
        deadline = time.monotonic() + timeout_ms / 1000
        while not self.reached:
            if time.monotonic() > deadline:
                raise AssertionError(f"the browser never reached {REDIRECT_URI} (still at {self.page.url})")
            self.wait(100)
        url = self.reached[0]
        # Show the landing page for the screenshot, whichever way the browser got there (a
        # redirect hop is not routed: the browser then shows a network error instead).
        try:
            expect(self.h1(LANDING_TITLE)).to_be_visible(timeout=3000)
        except AssertionError:
            self.page.goto(url)
        self.shot("back-at-the-app")
        assert self.reached.count(url) == len(self.reached), f"reached the app more than once: {self.reached}"
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query, keep_blank_values=True)
        assert all(len(v) == 1 for v in query.values()), f"a repeated parameter in {url}"
        return {k: v[0] for k, v in query.items()}

    # -- Steps of the connect journey --

    def choose_bank(self):
        expect(self.h1("Choose your bank")).to_be_visible()
        self.shot("bank-list")
        self.page.get_by_label("Search banks").fill("Sandbox")
        # The search is a form: wait for its page before looking for the bank.
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Search", exact=True).click()
        bank = self.page.get_by_role("link", name=BANK_LINK)
        expect(bank).to_be_visible()
        self.shot("search-results")
        bank.click()
        expect(self.h1(f"Connect to {BANK}")).to_be_visible()

    def log_in(self, login, password="1234"):
        self.page.get_by_label("Login", exact=False).fill(login)
        self.page.get_by_label("Password", exact=False).fill(password)
        self.shot(f"credentials-{login}")
        self.page.get_by_role("button", name="Connect", exact=True).click()

    def share(self, count=None, total=None):
        """On the account selection, checks the first `count` accounts (all when None) and shares
        them; returns the labels of (shared, not shared)."""
        expect(self.h1("Choose the accounts to share")).to_be_visible()
        boxes = self.page.get_by_role("checkbox")
        if total is not None:
            expect(boxes).to_have_count(total)
        else:
            expect(boxes.first).to_be_visible()
        labels = [label_of(boxes.nth(i)) for i in range(boxes.count())]
        count = len(labels) if count is None else count
        assert 0 < count <= len(labels), f"cannot share {count} of {len(labels)} accounts"
        for i in range(len(labels)):
            expect(boxes.nth(i)).not_to_be_checked()
        self.shot("accounts")
        for i in range(count):
            boxes.nth(i).check()
        self.shot("accounts-checked")
        # Then "Returning to <app>" sends the browser on at once (a refresh of 0 s): Chromium never
        # paints it, so there is nothing to see or save there; `redirect` sees where it leads.
        self.page.get_by_role("button", name="Share selected accounts", exact=True).click()
        return labels[:count], labels[count:]


def label_of(checkbox):
    """The text that labels a checkbox: its <label>, else aria-labelledby, else aria-label."""
    return checkbox.evaluate(
        """e => (e.labels && e.labels.length) ? e.labels[0].innerText
              : e.getAttribute('aria-labelledby')
                ? e.getAttribute('aria-labelledby').split(/\\s+/)
                    .map(id => (document.getElementById(id) || {}).innerText || '').join(' ')
                : (e.getAttribute('aria-label') || '')"""
    ).strip()


def assert_connected(journey, user, state, shared, not_shared, new_user=False):
    """The end of a connect journey: back at the app with `connection_id` and the state (and a
    `code` only when the webview made the user), the connection healthy, exactly the shared
    accounts enabled. Returns (query, user)."""
    query = journey.redirect()
    assert query.get("state") == state, f"state {query.get('state')!r}, expected {state!r}: {query}"
    assert "error" not in query, f"the journey ended in error: {query}"
    assert query.get("connection_id", "").isdigit(), f"no connection_id in {query}"
    if new_user:
        assert query.get("code"), f"a new user's journey must return a code: {query}"
        user = User.from_code(query["code"])
    else:
        assert "code" not in query, f"a code was returned for an existing user: {query}"
    id_connection = int(query["connection_id"])
    connection = user.connection(id_connection)[1]
    assert connection["state"] is None, f"connection {id_connection} is not healthy: {connection}"
    accounts = [a for a in user.accounts() if a.get("id_connection", id_connection) == id_connection]
    enabled = [a["name"] for a in accounts if a["disabled"] is None]
    disabled = [a["name"] for a in accounts if a["disabled"] is not None]
    assert len(enabled) == len(shared), f"shared {shared}, but enabled through the API: {enabled}"
    assert len(disabled) == len(not_shared), f"left out {not_shared}, but disabled: {disabled}"
    for name in enabled:
        assert any(name in label for label in shared), f"{name!r} enabled, yet not among those shared {shared}"
    for name in disabled:
        assert any(name in label for label in not_shared), f"{name!r} disabled, yet shared {shared}"
    return query, user


# ---- Scenarios ----


def connect_demo_as_a_new_user(browser, scenario="connect-demo", viewport=DESKTOP, docs_prefix=None, phone=False):
    """1. No code: the webview makes the user and returns a code; 2 of the 3 accounts shared."""
    with Journey(browser, scenario, viewport, docs_prefix, phone) as journey:
        state = new_state(scenario)
        journey.page.goto(connect_url(state))
        journey.choose_bank()
        journey.log_in("demo")
        shared, not_shared = journey.share(count=2, total=3)
        assert_connected(journey, None, state, shared, not_shared, new_user=True)
        return f"new user through the webview, code exchanged, 2 of 3 accounts shared ({viewport['width']}px)"


def connect_with_otp(browser):
    """2. The bank asks for a one-time code."""
    user = User()
    with Journey(browser, "otp") as journey:
        state = new_state("otp")
        journey.page.goto(connect_url(state, user.code()))
        journey.choose_bank()
        journey.log_in("otp")
        expect(journey.h1(f"{BANK} needs more information")).to_be_visible()
        journey.page.get_by_label("One-time code", exact=False).fill("123456")
        journey.shot("otp")
        journey.page.get_by_role("button", name="Continue", exact=True).click()
        shared, not_shared = journey.share()
        assert_connected(journey, user, state, shared, not_shared)
        return "one-time code asked and given"


def connect_with_webauth(browser):
    """3. A round trip through the bank's consent page."""
    user = User()
    with Journey(browser, "webauth") as journey:
        state = new_state("webauth")
        journey.page.goto(connect_url(state, user.code()))
        journey.choose_bank()
        journey.log_in("webauth")
        expect(journey.h1(f"Continue at {BANK}")).to_be_visible()
        journey.shot("continue-at-bank")
        journey.page.get_by_role("link", name=f"Continue to {BANK}", exact=True).click()
        # The consent page, in this tab or in one the link opened.
        journey.page = consent_page(journey)
        journey.shot("bank-consent")
        journey.page.get_by_role("link", name="Authorize", exact=True).click()
        shared, not_shared = journey.share()
        assert_connected(journey, user, state, shared, not_shared)
        return "web authentication round trip through the bank's consent page"


def consent_page(journey):
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        for page in journey.context.pages:
            try:
                if page.get_by_role("link", name="Authorize", exact=True).is_visible():
                    return page
            except PlaywrightError:
                pass  # between two pages
        journey.wait(100)
    raise AssertionError(f"no page with an 'Authorize' link (tabs at {[p.url for p in journey.context.pages]})")


def connect_decoupled(browser):
    """4. The user validates in the bank's app; the page refreshes itself until done."""
    user = User()
    with Journey(browser, "decoupled") as journey:
        state = new_state("decoupled")
        journey.page.goto(connect_url(state, user.code()))
        journey.choose_bank()
        journey.log_in("decoupled")
        expect(journey.h1("Validate in your banking app")).to_be_visible()
        journey.shot("validate-in-app")
        expect(journey.h1("Choose the accounts to share")).to_be_visible(timeout=30_000)
        shared, not_shared = journey.share()
        assert_connected(journey, user, state, shared, not_shared)
        return "decoupled validation waited for"


def wrong_password_then_retry(browser):
    """5. A refused password re-shows the form with an alert; the right one goes through."""
    user = User()
    with Journey(browser, "wrong-password") as journey:
        state = new_state("wrong-password")
        journey.page.goto(connect_url(state, user.code()))
        journey.choose_bank()
        journey.log_in("demo", "0000")
        expect(journey.page.get_by_role("alert")).to_contain_text("Wrong login or password")
        expect(journey.h1(f"Connect to {BANK}")).to_be_visible()
        journey.shot("refused")
        journey.log_in("demo", "1234")
        shared, not_shared = journey.share(count=1)
        assert_connected(journey, user, state, shared, not_shared)
        return "wrong password refused with an alert, then the right one accepted"


def reconnect_after_sca(browser):
    """6. A connection that needs SCA, reconnected from its webview link."""
    user = User()
    with Journey(browser, "reconnect") as journey:
        connection = user.connect("sca")
        id_connection = connection["id"]
        demanded = user.sync(id_connection)
        assert demanded["state"] == "SCARequired", f"the sandbox's `sca` login should need SCA now: {demanded}"
        state = new_state("reconnect")
        journey.page.goto(
            webview_url(
                "reconnect",
                client_id=CLIENT_ID,
                redirect_uri=REDIRECT_URI,
                code=user.code(),
                connection_id=id_connection,
                state=state,
            )
        )
        expect(journey.h1(f"Reconnect to {BANK}")).to_be_visible()
        journey.shot("reconnect")
        journey.page.get_by_role("button", name="Reconnect", exact=True).click()
        query = journey.redirect()
        assert query.get("state") == state, f"state {query.get('state')!r}, expected {state!r}: {query}"
        assert "error" not in query, f"the reconnection ended in error: {query}"
        assert query.get("connection_id") == str(id_connection), f"connection_id {id_connection} expected: {query}"
        assert "code" not in query, f"a code was returned for an existing user: {query}"
        connection = user.connection(id_connection)[1]
        assert connection["state"] is None, f"still not healthy after reconnecting: {connection}"
        return "SCARequired connection reconnected, its state cleared"


def manage_connections(browser):
    """7. Disable an account and delete a connection from the manage page."""
    user = User()
    with Journey(browser, "manage") as journey:
        id_connection = user.connect("demo")["id"]
        accounts = [a for a in user.accounts() if a.get("id_connection", id_connection) == id_connection]
        assert accounts, "the demo connection has no account"
        for account in accounts:
            user.set_disabled(account["id"], False)
        state = new_state("manage")
        journey.page.goto(
            webview_url("manage", client_id=CLIENT_ID, code=user.code(), redirect_uri=REDIRECT_URI, state=state)
        )
        expect(journey.h1("Your bank connections")).to_be_visible()
        page = journey.page
        sections = page.locator("section").filter(has=page.get_by_role("heading", level=2, name=BANK, exact=True))
        expect(sections).to_have_count(1)
        journey.shot("connections")

        target = accounts[0]
        sections.get_by_role("button", name=f"Disable {target['name']}", exact=True).click()
        expect(sections.get_by_role("button", name=f"Enable {target['name']}", exact=True)).to_be_visible()
        journey.shot("account-disabled")
        now = {a["id"]: a["disabled"] for a in user.accounts()}
        assert now.get(target["id"]) is not None, f"{target['name']!r} still enabled through the API: {now}"
        others = [a["id"] for a in accounts[1:] if now.get(a["id"]) is not None]
        assert not others, f"other accounts were disabled too: {others}"

        # A button, or a link to the confirmation page.
        delete = sections.get_by_role("button", name="Delete connection", exact=True)
        delete.or_(sections.get_by_role("link", name="Delete connection", exact=True)).click()
        expect(journey.h1("Delete this connection?")).to_be_visible()
        journey.shot("confirm-delete")
        page.get_by_role("button", name="Delete", exact=True).click()
        expect(journey.h1("Your bank connections")).to_be_visible()
        expect(sections).to_have_count(0)
        journey.shot("connection-deleted")
        user.connection(id_connection, expected=(404,))

        page.get_by_role("button", name="Close", exact=True).click()
        query = journey.redirect()
        assert query.get("state") == state, f"state {query.get('state')!r}, expected {state!r}: {query}"
        assert "error" not in query, f"closing ended in error: {query}"
        return "account disabled and connection deleted from the manage page"


def unregistered_redirect_uri_refused(browser):
    """8. A redirect_uri the client did not register: refused, and never navigated to."""
    with Journey(browser, "unregistered-redirect") as journey:
        url = webview_url("connect", client_id=CLIENT_ID, redirect_uri=EVIL_REDIRECT_URI, state=new_state("evil"))
        response = journey.page.goto(url)
        assert response is not None and response.status == 400, f"HTTP {response and response.status}, expected 400"
        expect(journey.h1("This link cannot be used")).to_be_visible()
        journey.wait(1500)  # a refresh or script that would send the browser there has had its chance
        journey.shot("refused")
        assert not journey.evil, f"the browser was sent to the unregistered redirect_uri: {journey.evil}"
        assert not journey.reached, f"the browser was sent to the app: {journey.reached}"
        return "unregistered redirect_uri refused with HTTP 400, never visited"


def reused_code_refused(browser):
    """9. A single-use code opens the webview once; a second time (fresh cookies) it is refused."""
    user = User()
    url = connect_url(new_state("reuse"), user.code())
    with Journey(browser, "reused-code-first") as first:
        response = first.page.goto(url)
        assert response is not None and response.ok, f"first use: HTTP {response and response.status}"
        expect(first.h1("Choose your bank")).to_be_visible()
        first.shot("first-use")
    with Journey(browser, "reused-code-second") as second:
        response = second.page.goto(url)
        assert response is not None and response.status == 400, (
            f"second use: HTTP {response and response.status}, expected 400"
        )
        expect(second.h1("This link cannot be used")).to_be_visible()
        second.shot("refused")
        assert not second.reached and not second.evil, f"the browser left: {second.reached + second.evil}"
        return "a single-use code refused the second time"


def cancel_ends_in_access_denied(browser):
    """10. Cancel on the credentials page: back at the app with error=access_denied."""
    user = User()
    with Journey(browser, "cancel") as journey:
        state = new_state("cancel")
        journey.page.goto(connect_url(state, user.code()))
        journey.choose_bank()
        journey.shot("credentials")
        journey.page.get_by_role("button", name="Cancel", exact=True).click()
        query = journey.redirect()
        assert query.get("error") == "access_denied", f"error=access_denied expected: {query}"
        assert query.get("error_description"), f"an error_description expected: {query}"
        assert query.get("state") == state, f"state {query.get('state')!r}, expected {state!r}: {query}"
        assert "connection_id" not in query, f"a cancelled journey returned a connection: {query}"
        assert user.connections() == [], f"a cancelled journey left connections: {user.connections()}"
        return "cancel returns error=access_denied"


SCENARIOS = [
    ("1 connect demo", connect_demo_as_a_new_user),
    ("2 otp", connect_with_otp),
    ("3 webauth", connect_with_webauth),
    ("4 decoupled", connect_decoupled),
    ("5 wrong password", wrong_password_then_retry),
    ("6 reconnect", reconnect_after_sca),
    ("7 manage", manage_connections),
    ("8 unregistered redirect_uri", unregistered_redirect_uri_refused),
    ("9 reused code", reused_code_refused),
    ("10 cancel", cancel_ends_in_access_denied),
]


def main():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    scenarios = list(SCENARIOS)
    if DOCS:
        DOCS.mkdir(parents=True, exist_ok=True)
        for old in [*DOCS.glob("connect-desktop-*.png"), *DOCS.glob("connect-phone-*.png")]:
            old.unlink()
        # Scenario 1 already runs at the desktop size: it also saves the desktop shots.
        scenarios[0] = (
            "1 connect demo",
            lambda b: connect_demo_as_a_new_user(b, docs_prefix="connect-desktop"),
        )
        scenarios.insert(
            1,
            (
                "1 connect demo (phone)",
                lambda b: connect_demo_as_a_new_user(b, "connect-demo-phone", PHONE, "connect-phone", phone=True),
            ),
        )
    if not os.access(CHROMIUM, os.X_OK):
        sys.exit(f"FAIL: no Chromium at {CHROMIUM} (install Debian's `chromium`, or set BANKD_TEST_CHROMIUM)")

    passed = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            for name, scenario in scenarios:
                try:
                    what = scenario(browser)
                except (AssertionError, PlaywrightError) as error:
                    traceback.print_exc()
                    print(f"FAIL: scenario {name}: {error}", flush=True)
                    print(f"webview: {passed} passed, 1 failed (screenshots in {SCREENSHOTS})", flush=True)
                    sys.exit(1)
                passed += 1
                print(f"ok: {name}: {what}", flush=True)
        finally:
            browser.close()
    print(f"webview: {passed} passed, 0 failed", flush=True)


if __name__ == "__main__":
    main()
