"""The whole journey, in two browser sessions at once (tests/it/console.rs starts the gateway
with the draft API `inventory`): the operator signs in, publishes `inventory` and a new model;
a tenant developer, signed in in a second browser, creates an app and asks for `inventory`; the
operator approves; the developer creates a key, copies it, and the test calls the API with
`curl` using that key; the developer then finds the call in the call log and in the usage
chart (the rendered numbers), and both sign out. Every step is a screenshot; with
TG_README_SHOTS set, the main pages are also written there for the README."""

import os
import shutil
import subprocess

from selenium.webdriver.common.by import By

from browser import admin_api, number, run, until

OP, OP_PASSWORD = os.environ["TG_OP_NAME"], os.environ["TG_OP_PASSWORD"]
DATA = os.environ["TG_DATA_URL"].rstrip("/")
DEV, DEV_PASSWORD = "dana", "dana-Journey-Pw-0192"
README_SHOTS = os.environ.get("TG_README_SHOTS")


def readme_shot(c, name, show=None):
    """The step's screenshot (from the top of the page, or with `show`, a css selector, in
    view), and a copy for the README when asked for."""
    if show:
        c.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", c.wait_for(show))
    else:
        c.driver.execute_script("window.scrollTo(0, 0)")
    path = c.shot(name)
    if README_SHOTS:
        os.makedirs(README_SHOTS, exist_ok=True)
        shutil.copy(path, os.path.join(README_SHOTS, f"{name}.png"))


def curl(path, key):
    """The data plane through curl, as a developer would: (status, body)."""
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}",
         "-H", f"Authorization: Bearer {key}", f"{DATA}{path}"],
        capture_output=True, text=True, timeout=20, check=True)
    body, _, status = out.stdout.rpartition("\n")
    return int(status), body


def operator_and_developer(open_console):
    status, _ = admin_api("POST", "/admin/tenants", {"name": "acme", "description": "Acme Inc"})
    assert status == 201, status
    status, body = admin_api("POST", "/admin/users", {"name": DEV, "role": "tenant_developer", "tenant": "acme", "password": DEV_PASSWORD})
    assert status == 201, body

    # The operator signs in and publishes the draft API.
    op = open_console("operator")
    op.sign_in(OP, OP_PASSWORD)
    readme_shot(op, "overview")
    op.go("/apis")
    row = op.wait_for("tr.api-inventory")
    assert "draft" in row.text, row.text
    op.click("Publish", "tr.api-inventory button")
    op.click("Publish", "dialog button")
    op.wait_for("tr.api-inventory", "published")
    readme_shot(op, "apis")

    # ...and a model on the mock provider, with a price.
    op.go("/admin-models/new")
    op.fill("Name", "journey-chat")
    op.fill("Deployments", "mock mock-1")
    op.fill("Input price (USD per million tokens)", "2")
    op.click("Create model", "form button[type=submit]")
    op.ready("/admin-models")
    op.wait_for("tr.model-journey-chat")
    op.shot("model-published")

    # The developer, in a second browser, finds the API and asks for it for a new app.
    dev = open_console("developer")
    dev.sign_in(DEV, DEV_PASSWORD)
    dev.go("/catalog")
    dev.wait_for("main tbody tr", "inventory")
    readme_shot(dev, "catalog")
    dev.go("/apps")
    dev.fill("Name", "storefront")
    dev.click("Create app", "button")
    dev.ready("/apps/:tenant/:app")
    dev.fill("API", "inventory")
    dev.click("Request subscription", "button")
    dev.wait_for("main td", "pending")
    dev.shot("subscription-requested")

    # The operator approves it from the queue.
    op.go("/approvals")
    op.wait_for("main tbody tr", "storefront")
    readme_shot(op, "approvals")
    op.click("Approve", 'button[aria-label="Approve acme/storefront for inventory"]')
    approve = 'button[aria-label="Approve acme/storefront for inventory"]'
    until("the approval", lambda: (not op.driver.find_elements(By.CSS_SELECTOR, approve), "still in the queue"))

    # The developer sees it active, creates a key and copies it.
    dev.driver.refresh()
    dev.ready("/apps/:tenant/:app")
    dev.wait_for("main td", "active")
    dev.fill("Key name", "production")
    dev.click("Create key", "button")
    key = dev.wait_for(".secret .secret-value").text
    assert key.startswith("tg_"), key
    dev.click("Copy", ".secret button")
    dev.wait_for(".secret button", "Copied")
    copied = dev.driver.execute_async_script(
        "navigator.clipboard.readText().then(arguments[0], () => arguments[0](null))")
    assert copied in (key, None), copied
    readme_shot(dev, "app-key", ".secret")

    # The key works: curl through the gateway reaches the upstream behind `inventory`.
    for i in range(3):
        status, body = curl(f"/inventory/items/{i}", key)
        assert (status, body) == (200, "orders"), (status, body)
    status, _ = curl("/orders/1", key)
    assert status == 403, f"storefront is not subscribed to orders: {status}"

    # The developer finds the calls in the call log (the store writes them within a moment)...
    def logged():
        dev.go("/calls")
        rows = dev.driver.find_elements(By.CSS_SELECTOR, "main tbody tr")
        return len(rows) >= 4, rows
    rows = until("the calls in the call log", logged)
    texts = [r.text for r in rows]
    assert sum("/inventory/items/" in t and "200" in t for t in texts) == 3, texts
    assert any("/orders/1" in t and "403" in t for t in texts), texts
    readme_shot(dev, "calls")
    row = dev.wait_for("main tbody tr", "/inventory/items/2")
    row.find_element(By.CSS_SELECTOR, "a").click()
    dev.ready("/calls/:id")
    detail = dev.text("main")
    for want in ("/inventory/items/2", "200", "storefront", "inventory"):
        assert want in detail, (want, detail)
    dev.shot("call-detail")

    # ...and in the usage chart: 4 requests by the app, 3 of them to inventory.
    dev.go("/usage?group=api")
    total = number(dev.wait_for('[data-total="requests"] .tile-value').text)
    assert total == 4, total
    dl = dev.wait_for('[data-chart="requests"] .chart-totals')
    names = [e.text for e in dl.find_elements(By.TAG_NAME, "dt")]
    values = [number(e.text) for e in dl.find_elements(By.TAG_NAME, "dd")]
    totals = dict(zip(names, values))
    assert totals.get("inventory") == 3 and totals.get("Total") == 4, totals
    readme_shot(dev, "usage")

    dev.sign_out()
    op.sign_out()
    dev.shot("signed-out")


run({"operator_and_developer": operator_and_developer})
