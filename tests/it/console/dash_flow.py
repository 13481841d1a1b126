"""The console's observe-and-govern pages: usage charts, the call log, the audit log and the
limits (tests/it/console_dash.rs starts the gateway, with the `broken`, `limited` and `priced`
additions it describes). Each scenario sends real calls through the data plane, waits for the
call store to hold them, and asserts that the pages show exactly those numbers.

`page_load` measures every page in the side bar against a large store (seeded by the Rust
test) and prints the figures; it asserts nothing about time.
"""

import json
import os

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from browser import admin_api, data_plane, number, ok, run, until

OP, PASSWORD = os.environ["TG_OP_NAME"], os.environ["TG_OP_PASSWORD"]
DEV, DEV_PASSWORD = "dev", "dev-password-Zq81-long"


# Every call a scenario sends through the data plane, as the call store should count it:
# (tenant, app, route, status); a call refused for its key has no tenant or app.
SENT = []
OWNERS = {}
ROUTES = {"/orders": "orders", "/v1": "llm", "/broken": "broken", "/captured": "captured", "/limited": "limited"}


def sent(tenant=None, app=None, route=None, status=None):
    """How many sent calls match."""
    return sum(1 for s in SENT if all(w is None or w == v for w, v in zip((tenant, app, route, status), s)))


def data_call(method, path, key=None, body=None):
    """A call through the gateway's data plane; (status, parsed JSON or text). It is noted in
    SENT, so that the pages' numbers can be held to what was sent."""
    status, answer = _data_call(method, path, key, body)
    tenant, app = OWNERS.get(key, (None, None)) if status != 401 else (None, None)
    SENT.append((tenant, app, ROUTES["/" + path.split("/")[1]], status))
    return status, answer


def _data_call(method, path, key=None, body=None):
    status, text = data_plane(method, path, key, body)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def expect(status, answer):
    assert answer[0] == status, f"{answer[0]} (wanted {status}): {answer[1]}"
    return answer[1]


def app_with_key(tenant, app, apis):
    ok(admin_api("POST", f"/admin/tenants/{tenant}/apps", {"name": app}))
    for api in apis:
        sub = ok(admin_api("POST", f"/admin/tenants/{tenant}/apps/{app}/subscriptions", {"api": api}))
        if sub["state"] == "pending":
            ok(admin_api("POST", f"/admin/subscriptions/{sub['id']}/approve", {}))
    # The key last: the workers read the store in one transaction, so a key they know comes
    # with its app's approved subscriptions (made first, a key could be taken up a refresh
    # before an approval, and a call refused 403 though the setup had ended).
    return ok(admin_api("POST", f"/admin/tenants/{tenant}/apps/{app}/keys", {}))["key"]


def setup():
    """Two tenants, three apps with keys, a tenant developer of acme; returns the keys."""
    for t in ("acme", "globex"):
        ok(admin_api("POST", "/admin/tenants", {"name": t}))
    keys = {
        "web": app_with_key("acme", "web", ["orders", "llm", "broken", "limited", "captured"]),
        "mobile": app_with_key("acme", "mobile", ["llm"]),
        "other": app_with_key("globex", "other", ["llm"]),
    }
    ok(admin_api("POST", "/admin/users", {"name": DEV, "role": "tenant_developer", "tenant": "acme", "password": DEV_PASSWORD}))
    owners = {"web": ("acme", "web"), "mobile": ("acme", "mobile"), "other": ("globex", "other")}
    for name, key in keys.items():
        OWNERS[key] = owners[name]
    # The workers take up new keys within a store refresh: until then a key is unknown (401).
    # These calls are stored too, and SENT counts them.
    for key in keys.values():
        until("a new key taken up", lambda: (lambda st: (st != 401, st))(data_call("GET", "/orders/warm-up", key)[0]))
    return keys


def wait_stored(n, tenant=None):
    """Waits until the call store holds `n` calls (of `tenant`), and no more."""
    path = "/admin/usage?group_by=route&bucket=day&from=0" + (f"&tenant={tenant}" if tenant else "")
    stored = lambda: sum(r["requests"] for r in ok(admin_api("GET", path))["usage"])
    got = until(f"{n} calls in the store", lambda: (lambda g: (g >= n, g))(stored()))
    assert got == n, f"the store holds {got} calls, {n} were sent"


def chat(key, model, text):
    status, body = data_call("POST", "/v1/chat/completions", key, {"model": model, "messages": [{"role": "user", "content": text}]})
    assert status == 200, body
    return body["usage"]


def chart_totals(c, chart):
    """The totals beside a chart: {series name: number}, "Total" for the whole."""
    dl = c.wait_for(f'[data-chart="{chart}"] .chart-totals')
    names = [e.text for e in dl.find_elements(By.TAG_NAME, "dt")]
    values = [e.text for e in dl.find_elements(By.TAG_NAME, "dd")]
    return {n: number(v) for n, v in zip(names, values)}


def tile(c, key):
    return number(c.wait_for(f'[data-total="{key}"] .tile-value').text)


# ---- usage --------------------------------------------------------------------------------

def usage_charts(open_console):
    keys = setup()
    # acme/web: orders calls, 2 chats with the priced model, 2 calls to a dead upstream (502);
    # acme/mobile: a chat with demo, an orders call it is not subscribed to (403);
    # globex/other: 3 chats with demo; and a call with a wrong key (401, no tenant).
    for i in range(5):
        expect(200, data_call("GET", f"/orders/item-{i}", keys["web"]))
    usages = [chat(keys["web"], "priced", f"hello {i}") for i in range(2)]
    usages.append(chat(keys["mobile"], "demo", "hi from mobile"))
    for _ in range(2):
        expect(502, data_call("GET", "/broken/x", keys["web"]))
    expect(403, data_call("GET", "/orders/nope", keys["mobile"]))
    for i in range(3):
        chat(keys["other"], "demo", f"globex {i}")
    expect(401, data_call("GET", "/orders/x", "tg_wrong"))
    acme_tokens = sum(u["prompt_tokens"] + u["completion_tokens"] for u in usages)
    total, acme = len(SENT), sent(tenant="acme")
    wait_stored(total)
    wait_stored(acme, "acme")
    # What the store says the priced chats cost (the prices in the config make it > 0).
    calls = ok(admin_api("GET", "/admin/calls?model=priced"))["calls"]
    cost = sum(c["llm"]["cost_usd"] for c in calls)
    assert len(calls) == 2 and cost > 0, calls

    op = open_console("operator")
    op.sign_in(OP, PASSWORD)
    op.go("/usage?range=1h&group=route", "/usage")
    op.shot("usage-by-api")
    assert tile(op, "requests") == total
    assert tile(op, "errors") == 2, "the two 502s"
    by_api = chart_totals(op, "requests")
    assert by_api == {"Total": total, "orders": sent(route="orders"), "llm": 6, "broken": 2}, by_api
    errors = chart_totals(op, "errors")
    assert errors["Total"] == 2 and errors["broken"] == 2, errors
    # The chart is drawn: bars for the buckets that had calls, a legend entry per group.
    bars = op.driver.find_elements(By.CSS_SELECTOR, '[data-chart="requests"] svg rect.bar')
    assert len(bars) >= 3, len(bars)
    legend = [e.text for e in op.driver.find_elements(By.CSS_SELECTOR, '[data-chart="requests"] .legend li')]
    assert set(legend) == {"orders", "llm", "broken"}, legend
    assert op.driver.find_elements(By.CSS_SELECTOR, '[data-chart="requests"] svg text.y-tick')
    # The table under the chart has the same figures.
    op.click("Requests as a table", "summary")
    op.wait_for("details.chart-data[open] tbody td")
    cells = [e.text for e in op.driver.find_elements(By.CSS_SELECTOR, "details.chart-data[open] tbody td:last-child")]
    assert sum(number(c) for c in cells) == total, cells

    # Group by app: the choice goes to the URL.
    Select(op.field("Group by")).select_by_value("app")
    op.ready("/usage")
    assert "group=app" in op.driver.current_url and "range=1h" in op.driver.current_url
    by_app = chart_totals(op, "requests")
    want = {"Total": total, "web": sent(app="web"), "mobile": sent(app="mobile"), "other": sent(app="other"),
            "(none)": sum(1 for s in SENT if s[1] is None)}
    assert by_app == want, (by_app, want)
    cost_totals = chart_totals(op, "cost")
    assert abs(cost_totals["Total"] - round(cost, 4)) < 1e-4, (cost_totals, cost)
    op.shot("usage-by-app")

    Select(op.field("Group by")).select_by_value("model")
    op.ready("/usage")
    tokens = chart_totals(op, "tokens")
    assert tokens["priced"] == sum(u["prompt_tokens"] + u["completion_tokens"] for u in usages[:2]), tokens
    assert tokens["Total"] > acme_tokens, tokens

    # A custom range that ends before the calls: nothing, said plainly.
    Select(op.field("Time range")).select_by_value("custom")
    op.ready("/usage")
    op.driver.execute_script("document.getElementById('usage-from').value = '2020-01-01T00:00'; document.getElementById('usage-to').value = '2020-01-02T00:00'")
    op.click("Show", "button")
    op.ready("/usage")
    assert "range=custom" in op.driver.current_url and "from=2020-01-01" in op.driver.current_url
    op.wait_for(".empty", "No calls in this time range")
    op.shot("usage-custom-empty")
    # A range that ends before it starts is said to be one, not sent.
    op.go("/usage?range=custom&from=2020-01-02T00:00&to=2020-01-01T00:00", "/usage")
    op.wait_for(".empty", "The start of the range must be before its end")
    # A linked view opens as it was left.
    op.load("/usage?range=24h&group=app&tenant=globex")
    assert chart_totals(op, "requests") == {"Total": sent(tenant="globex"), "other": sent(tenant="globex")}
    assert op.field("Group by").get_attribute("value") == "app"

    # The tenant developer sees acme's calls only, whatever the URL asks.
    dev = open_console("developer")
    dev.sign_in(DEV, DEV_PASSWORD)
    dev.go("/usage?range=24h&group=app&tenant=globex", "/usage")
    assert tile(dev, "requests") == acme
    assert tile(dev, "tokens") == acme_tokens
    by_app = chart_totals(dev, "requests")
    assert by_app == {"Total": acme, "web": sent(app="web"), "mobile": sent(app="mobile")}, by_app
    assert not dev.driver.find_elements(By.ID, "usage-tenant")
    dev.shot("usage-tenant-developer")


# ---- the call log -------------------------------------------------------------------------

def call_log(open_console):
    keys = setup()
    for i in range(55):
        expect(200, data_call("GET", f"/orders/item-{i}", keys["web"]))
    expect(403, data_call("GET", "/orders/denied", keys["mobile"]))
    expect(200, data_call("POST", "/captured/capture-me", keys["web"], {"secret_order": 42}))
    expect(502, data_call("GET", "/broken/x", keys["web"]))
    chat(keys["other"], "demo", "from globex")
    wait_stored(len(SENT))

    op = open_console("operator")
    op.sign_in(OP, PASSWORD)
    op.go("/calls")
    op.shot("calls")
    rows = op.driver.find_elements(By.CSS_SELECTOR, "main tbody tr")
    assert len(rows) == 50, len(rows)
    assert "POST /v1/chat/completions" in rows[0].text, rows[0].text
    op.click("Older calls →", "a")
    op.ready("/calls")
    assert len(op.driver.find_elements(By.CSS_SELECTOR, "main tbody tr")) == len(SENT) - 50
    assert "cursor=" in op.driver.current_url
    assert not op.driver.find_elements(By.LINK_TEXT, "Older calls →")
    op.click("← Newest calls", "a")
    op.ready("/calls")

    # Filters: status class, path text, API, app; each kept in the URL.
    op.fill("Status", "4xx")
    op.click("Filter", "button")
    op.ready("/calls")
    rows = op.driver.find_elements(By.CSS_SELECTOR, "main tbody tr")
    client_errors = sum(1 for s in SENT if 400 <= s[3] < 500)
    assert len(rows) == client_errors and "/orders/denied" in rows[0].text and "403" in rows[0].text, [r.text for r in rows]
    assert all(" 401 " in r.text or " 403 " in r.text for r in rows), [r.text for r in rows]
    assert "status=4xx" in op.driver.current_url
    op.go("/calls?path=item-5&route=orders")
    paths = sorted(r.text.split("GET ")[1].split()[0] for r in op.driver.find_elements(By.CSS_SELECTOR, "main tbody tr"))
    assert paths == ["/orders/item-5"] + [f"/orders/item-{i}" for i in range(50, 55)], paths
    # A cursor this API never gave: the API's message, and a way back.
    op.go("/calls?cursor=bogus")
    op.wait_for(".notice.error", "cursor")
    op.wait_for("button", "Try again")
    op.go("/calls?app=nobody")
    op.wait_for(".empty", "No call matches these filters")
    op.shot("calls-none-match")

    # The detail view: every field, the captured headers and body.
    op.go("/calls?route=captured")
    op.click("", "main tbody tr a")
    op.ready("/calls/:id")
    text = op.text("main")
    for want in ("/captured/capture-me", "200", "127.0.0.1:", "upstream", "latency_ms", "acme", "web",
                 "content-type", "application/json", "secret_order", "42", "Response body", "orders"):
        assert want in text, f"{want!r} not in the detail view:\n{text}"
    op.shot("call-detail")
    op.go("/calls?route=broken")
    op.click("", "main tbody tr a")
    op.ready("/calls/:id")
    text = op.text("main")
    for want in ("502", "upstream_unavailable", "Not captured"):
        assert want in text, f"{want!r} not in the detail view:\n{text}"
    op.click("← All calls", "a")
    op.ready("/calls")

    # An LLM call's detail shows its model, tokens and cost fields.
    op.go("/calls?model=demo")
    op.click("", "main tbody tr a")
    op.ready("/calls/:id")
    text = op.text("main")
    for want in ("Model call", "prompt_tokens", "completion_tokens", "cost_usd", "mock", "globex"):
        assert want in text, f"{want!r} not in:\n{text}"

    # The developer of acme sees acme's calls only; globex's call is not found by its id.
    globex_id = ok(admin_api("GET", "/admin/calls?tenant=globex"))["calls"][0]["request_id"]
    dev = open_console("developer")
    dev.sign_in(DEV, DEV_PASSWORD)
    dev.go("/calls?model=demo")
    dev.wait_for(".empty", "No call matches")
    dev.go(f"/calls/{globex_id}", "/calls/:id")
    dev.wait_for(".empty", f"No call {globex_id} is stored for the tenant acme")
    dev.shot("calls-other-tenant")


# ---- audit and limits ---------------------------------------------------------------------

def audit_and_limits(open_console):
    keys = setup()
    # The `tiny` limit lets 2 calls a minute through per tenant and app: 3 of 5 are refused.
    codes = [data_call("GET", "/limited/x", keys["web"])[0] for _ in range(5)]
    assert codes == [200, 200, 429, 429, 429], codes

    op = open_console("operator")
    op.sign_in(OP, PASSWORD)
    op.go("/limits")
    op.shot("limits")
    text = op.text("main")
    assert "tiny" in text and "2 / 1h" in text and "tenant, app" in text, text
    top = op.wait_for("main tbody tr", "tenant=acme app=web")
    assert "3" in top.text.split("tenant=acme app=web")[1], top.text
    op.click("Inspect", "a")
    op.ready("/limits/:limit")
    assert op.field("Tenant").get_attribute("value") == "acme"
    assert number(op.text('[data-field="remaining"]')) == 0
    op.shot("bucket-empty")
    op.click("Reset bucket…", "button")
    op.wait_for("dialog[open]")
    op.shot("bucket-reset-confirm")
    op.click("Reset bucket", "dialog button.danger")
    op.wait_for(".toast", "reset")
    op.ready("/limits/:limit")
    assert number(op.text('[data-field="remaining"]')) == 2
    expect(200, data_call("GET", "/limited/x", keys["web"]))
    # A bucket asked for without its key parts: the form says which.
    op.go("/limits/tiny", "/limits/:limit")
    op.wait_for(".empty", "Give every key part")
    op.go("/limits/nothing-such", "/limits/:limit")
    op.wait_for(".empty", "no limit named nothing-such")

    # The audit log has the reset, the approval and the user's creation, newest first.
    op.go("/audit")
    op.shot("audit")
    rows = op.driver.find_elements(By.CSS_SELECTOR, "main tbody tr")
    assert "limit.reset" in rows[0].text and OP in rows[0].text and "limit:tiny" in rows[0].text, rows[0].text
    assert "acme" in rows[0].text, "the change's detail: the bucket's key"
    op.fill("Action", "subscription")
    op.click("Filter", "button")
    op.ready("/audit")
    rows = op.driver.find_elements(By.CSS_SELECTOR, "main tbody tr")
    assert rows and all("subscription." in r.text for r in rows), [r.text for r in rows]
    assert "action=subscription" in op.driver.current_url
    op.go("/audit?target=tenant:globex")
    rows = op.driver.find_elements(By.CSS_SELECTOR, "main tbody tr")
    assert len(rows) == 1 and "tenant.create" in rows[0].text, [r.text for r in rows]
    op.go("/audit?action=nothing.such")
    op.wait_for(".empty", "No change matches")

    # A tenant developer has neither page.
    dev = open_console("developer")
    dev.sign_in(DEV, DEV_PASSWORD)
    nav = dev.text(".sidebar")
    assert "Audit" not in nav and "Limits" not in nav and "Usage" in nav and "Calls" in nav, nav
    for route in ("/audit", "/limits"):
        dev.go(route)
        assert "Your role cannot open this page" in dev.text("main")


# ---- page-load figures --------------------------------------------------------------------

def page_load(open_console):
    """Loads every page of the side bar (and a call's detail) from scratch, a few times each,
    and prints the median full load (navigation start to rendered) per page, in ms."""
    c = open_console("operator")
    c.sign_in(OP, PASSWORD)
    routes = [a.get_attribute("href").split("#", 1)[1] for a in c.driver.find_elements(By.CSS_SELECTOR, ".sidebar a")]
    extra = os.environ.get("TG_EXTRA_ROUTES", "")
    routes += [r for r in extra.split(",") if r]
    call = ok(admin_api("GET", "/admin/calls?limit=1"))["calls"][0]["request_id"]
    routes.append(f"/calls/{call}")
    rounds = int(os.environ.get("TG_ROUNDS", "3"))
    figures = []
    for route in routes:
        pattern = "/calls/:id" if route.startswith("/calls/") else route.split("?")[0]
        times, apis = [], []
        for _ in range(rounds):
            times.append(c.load(route, pattern, timeout=60))
            # The slowest admin API call of the load, as the browser timed it.
            apis.append(int(c.driver.execute_script(
                "return Math.max(0, ...performance.getEntriesByType('resource')"
                ".filter((e) => e.name.includes('/admin/')).map((e) => e.duration))")))
        times.sort()
        apis.sort()
        figures.append((route, times[len(times) // 2], times[-1], apis[len(apis) // 2]))
        c.shot("load-" + route.strip("/").replace("/", "-").replace("?", "-")[:40] or "overview")
    print("page-load figures (ms, navigation start to <main data-ready>):")
    print(f"{'page':<48} {'median':>8} {'worst':>8} {'slowest API call (median)':>26}")
    for route, median, worst, api in figures:
        print(f"{route:<48} {median:>8} {worst:>8} {api:>26}")


run({
    "usage_charts": usage_charts,
    "call_log": call_log,
    "audit_and_limits": audit_and_limits,
    "page_load": page_load,
})
