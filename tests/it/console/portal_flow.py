"""The console's self-service pages in a real browser: the catalog and an API's reference, apps
and keys, subscriptions and the approval queue, tenants and users, models and the playground,
keyboard use, and each page's empty state (tests/it/console_portal.rs starts the gateway, with
the `shop` API whose OpenAPI document is orders-openapi.json here)."""

import os

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from browser import admin_api, data_plane, ok, run, until

OP, OP_PASSWORD = os.environ["TG_OP_NAME"], os.environ["TG_OP_PASSWORD"]
DEV, DEV_PASSWORD = "dana", "dana-Pw-0123456789"
TADMIN, TADMIN_PASSWORD = "tara", "tara-Pw-0123456789"


def tenant_with_developer(tenant="acme", apps=("web",)):
    """A tenant, its apps, and the developer `dana` in it (set up through the admin API)."""
    ok(admin_api("POST", "/admin/tenants", {"name": tenant, "description": f"{tenant} Inc"}))
    for app in apps:
        ok(admin_api("POST", f"/admin/tenants/{tenant}/apps", {"name": app, "description": f"The {app} app"}))
    ok(admin_api("POST", "/admin/users", {"name": DEV, "role": "tenant_developer", "tenant": tenant, "password": DEV_PASSWORD}))


def wait_key_works(key):
    """Polls the data plane until every worker has loaded `key` (within `[store] refresh`)."""
    until("the key taken by the data plane", lambda: (lambda a: (a[0] == 200, a))(data_plane("GET", "/v1/models", key)))


def active(c):
    """The element that has the keyboard focus."""
    return c.driver.switch_to.active_element


def catalog(open_console):
    tenant_with_developer(apps=("web", "mobile"))
    c = open_console("developer")
    c.sign_in(DEV, DEV_PASSWORD)
    c.go("/catalog")
    rows = c.driver.find_elements(By.CSS_SELECTOR, "main tbody tr")
    names = [r.find_element(By.CSS_SELECTOR, "td").text.split("\n")[0] for r in rows]
    assert names == ["orders", "llm", "shop"], names
    shop = next(r for r in rows if r.text.startswith("shop"))
    for expected in ("The shop: orders with a published reference.", "2.0.0", "published", "route", "manual", "not subscribed"):
        assert expected in shop.text, (expected, shop.text)
    llm = next(r for r in rows if r.text.startswith("llm"))
    assert "LLM route" in llm.text and "auto" in llm.text, llm.text
    c.shot("catalog")
    # The search box hides what does not match, and says when nothing does.
    search = c.wait_for("#catalog-search")
    search.send_keys("published reference")
    visible = [r for r in c.driver.find_elements(By.CSS_SELECTOR, "main tbody tr") if r.is_displayed()]
    assert [r.text.split("\n")[0] for r in visible] == ["shop"], [r.text for r in visible]
    c.shot("catalog-search")
    search.send_keys(" nothing like this")
    c.wait_for("main p[role=status]", "No API matches your search.")
    search.clear()
    search.send_keys(Keys.SPACE, Keys.BACKSPACE)

    # The API's page: its facts and its reference, read from the OpenAPI document.
    c.click("shop", "main a")
    c.ready("/catalog/:api")
    assert c.text("main h1") == "shop"
    about = c.text("main .facts")
    for expected in ("published", "route", "2.0.0", "/shop", "an operator approves each app"):
        assert expected in about, (expected, about)
    assert "https://gateway.example.com/orders" in c.text(".reference"), "servers"
    ops = c.driver.find_elements(By.CSS_SELECTOR, ".operation > summary")
    assert [o.text.split("\n")[:2] for o in ops] == [["GET", "/orders"], ["POST", "/orders"], ["GET", "/orders/{id}"], ["DELETE", "/orders/{id}"]], [o.text for o in ops]
    assert "List orders" in ops[0].text and "Place an order" in ops[1].text
    listing, placing, one = c.driver.find_elements(By.CSS_SELECTOR, ".operation")[:3]
    params = [[td.text for td in tr.find_elements(By.CSS_SELECTOR, "td")] for tr in listing.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert params[0] == ["status", "query", '"open" | "shipped"', "no", "Only orders in this state"], params
    assert params[1][:3] == ["limit", "query", "integer (int32)"], params
    # The path-level parameter is listed on the operations under it.
    assert "id\npath\nstring\nyes\nThe order's id" in one.text.replace("\t", "\n") or "The order's id" in one.text, one.text
    body = placing.text
    for expected in ("REQUEST BODY (REQUIRED)", "items array of LineItem required", "sku string required", "ship_to Address required", "country string – ISO 3166 code", "201", "Placed", "400"):
        assert expected in body, (expected, body)
    # A recursive schema stops at its name.
    assert "replaces Order" in one.text, one.text
    c.shot("api-reference")
    c.driver.execute_script("arguments[0].scrollIntoView()", placing)
    c.shot("api-operations")

    # Subscribe an app right there: a manual API leaves it pending.
    c.fill("App", "web")
    c.click("Request subscription", "button")
    c.wait_for(".subs", "pending")
    c.shot("api-subscribed")
    c.go("/catalog")
    shop = next(r for r in c.driver.find_elements(By.CSS_SELECTOR, "main tbody tr") if r.text.startswith("shop"))
    assert "web" in shop.text and "pending" in shop.text, shop.text

    # An operator sees every tenant's subscriptions, and subscribes any tenant's app.
    op = open_console("operator")
    op.sign_in(OP, OP_PASSWORD)
    op.go("/catalog")
    shop = next(r for r in op.driver.find_elements(By.CSS_SELECTOR, "main tbody tr") if r.text.startswith("shop"))
    assert "0 active" in shop.text and "1 pending" in shop.text, shop.text
    op.go("/catalog/shop", "/catalog/:api")
    op.fill("Tenant", "acme")
    op.fill("App", "mobile")
    op.click("Request subscription", "button")
    listed = op.wait_for(".subs", "acme/mobile").text
    assert "acme/web" in listed, listed
    op.shot("operator-subscribes")
    # The operator sees every API, but an app is offered only what its tenant may see.
    op.go("/catalog")
    assert "partners" in op.text("main tbody")
    op.go("/apps/acme/web", "/apps/:tenant/:app")
    offered = [o.get_attribute("value") for o in op.field("API").find_elements(By.TAG_NAME, "option")]
    assert offered == ["orders", "llm"], offered


def apps_and_keys(open_console):
    tenant_with_developer(apps=())
    c = open_console("developer")
    c.sign_in(DEV, DEV_PASSWORD)
    c.go("/apps")
    c.wait_for(".empty", "acme has no app yet")
    # A bad name is refused by the gateway, and the message shows under the Name field.
    c.fill("Name", "Web Shop!")
    c.click("Create app", "button")
    err = c.wait_for(".field-error")
    assert "app name" in err.text and "a-z" in err.text, err.text
    assert c.field("Name").get_attribute("aria-invalid") == "true"
    c.shot("app-name-error")
    c.fill("Name", "web-shop")
    c.fill("Description", "The shop front")
    c.click("Create app", "button")
    c.ready("/apps/:tenant/:app")
    assert c.text("main h1") == "web-shop"
    c.wait_for(".empty", "No key yet")

    # A key is shown once, with a copy button that copies it.
    c.fill("Key name", "production")
    c.click("Create key", "button")
    shown = c.wait_for(".secret .secret-value").text
    assert shown.startswith("tg_"), shown
    c.click("Copy", ".secret button")
    c.wait_for(".secret button", "Copied")
    copied = c.driver.execute_async_script("navigator.clipboard.readText().then(arguments[0], () => arguments[0](null))")
    assert copied in (shown, None), copied
    c.shot("key-created")
    keys = ok(admin_api("GET", "/admin/tenants/acme/apps/web-shop/keys"))
    assert len(keys) == 1 and shown.startswith(f"tg_{keys[0]['id']}_"), keys
    # Leaving the page and coming back: the key is not shown again.
    c.go("/apps")
    c.click("web-shop", "main a")
    c.ready("/apps/:tenant/:app")
    assert not c.driver.find_elements(By.CSS_SELECTOR, ".secret"), "the key was shown twice"

    # Rotate with a one-hour overlap: a new key shown once, the old one still active but expiring.
    old = keys[0]["id"]
    c.click("Rotate", f'button[aria-label="Rotate key {old}"]')
    c.wait_for("dialog", "Rotate key")
    c.fill("Overlap", "1h")
    c.shot("rotate-dialog")
    c.click("Rotate", "dialog button")
    new_key = c.wait_for(".secret .secret-value").text
    assert new_key.startswith("tg_") and new_key != shown
    rows = c.driver.find_elements(By.CSS_SELECTOR, "main .card tbody tr")
    old_row = next(r for r in rows if old in r.text)
    assert "active" in old_row.text and "never" not in old_row.text, old_row.text
    c.shot("key-rotated")

    # Revoke after a confirmation; cancelling first changes nothing.
    c.click("Revoke", f'button[aria-label="Revoke key {old}"]')
    c.click("Cancel", "dialog button")
    assert ok(admin_api("GET", f"/admin/keys/{old}"))["state"] == "active"
    c.click("Revoke", f'button[aria-label="Revoke key {old}"]')
    c.wait_for("dialog", f"Revoke key {old}")
    c.shot("revoke-confirm")
    c.click("Revoke key", "dialog button")
    c.wait_for("main tbody tr", "revoked")
    assert ok(admin_api("GET", f"/admin/keys/{old}"))["state"] == "revoked"

    # Request subscriptions from the app: auto approval is active at once, manual is pending.
    subs_rows = "main .card:last-of-type tbody tr"
    c.fill("API", "llm")
    c.click("Request subscription", "button")
    assert "active" in c.wait_for(subs_rows, "llm").text
    c.fill("API", "orders")
    c.click("Request subscription", "button")
    assert "pending" in c.wait_for(subs_rows, "orders").text
    c.shot("app-subscriptions")


def approvals(open_console):
    tenant_with_developer()
    dev = open_console("developer")
    dev.sign_in(DEV, DEV_PASSWORD)
    dev.go("/subscriptions")
    dev.wait_for(".empty", "No subscription yet")
    op = open_console("operator")
    op.sign_in(OP, OP_PASSWORD)
    op.go("/approvals")
    op.wait_for(".empty", "No request is waiting")
    # The developer asks for two manual APIs.
    dev.go("/apps/acme/web", "/apps/:tenant/:app")
    dev.fill("API", "orders")
    dev.click("Request subscription", "button")
    dev.wait_for("main .card tbody tr", "pending")
    dev.fill("API", "shop")
    dev.click("Request subscription", "button")
    dev.wait_for("main .card tbody tr", "shop")
    # The operator rejects one with a reason and approves the other.
    op.go("/approvals")
    queue = op.text("main tbody")
    assert "orders" in queue and "shop" in queue and "acme" in queue, queue
    op.shot("queue")
    op.click("Reject", 'button[aria-label="Reject acme/web for orders"]')
    op.wait_for("dialog textarea").send_keys("Use shop instead: orders is being retired.")
    op.shot("reject-dialog")
    op.click("Reject", "dialog button")
    op.wait_gone('button[aria-label="Reject acme/web for orders"]')
    op.click("Approve", 'button[aria-label="Approve acme/web for shop"]')
    op.wait_for(".empty", "No request is waiting")
    op.shot("queue-empty")
    # The developer sees both decisions, with the reason.
    dev.go("/subscriptions")
    rows = {r.find_elements(By.CSS_SELECTOR, "td")[1].text: r.text for r in dev.driver.find_elements(By.CSS_SELECTOR, "main tbody tr")}
    assert "rejected" in rows["orders"] and "Use shop instead: orders is being retired." in rows["orders"], rows
    assert "active" in rows["shop"], rows
    dev.shot("decisions")
    dev.fill("State", "rejected")
    WebDriverWait(dev.driver, 10, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: [r.text for r in d.find_elements(By.CSS_SELECTOR, "main tbody tr")] and all(
            "rejected" in r.text for r in d.find_elements(By.CSS_SELECTOR, "main tbody tr")))
    assert "state=rejected" in dev.driver.current_url
    assert len(dev.driver.find_elements(By.CSS_SELECTOR, "main tbody tr")) == 1


def people(open_console):
    op = open_console("operator")
    op.sign_in(OP, OP_PASSWORD)
    op.go("/tenants")
    op.wait_for(".empty", "There is no tenant yet")
    op.fill("Name", "Bad Name")
    op.click("Create tenant", "button")
    assert "tenant name" in op.wait_for(".field-error").text
    op.fill("Name", "globex")
    op.fill("Description", "Globex Corporation")
    op.click("Create tenant", "button")
    op.wait_for("main tbody tr", "Globex Corporation")
    op.shot("tenants")
    # A tenant admin with an initial password; a short one is refused at its field.
    op.click("Members", "main a")
    op.ready("/users")
    op.wait_for(".empty", "globex has no member yet")
    op.fill("User name", TADMIN)
    op.fill("Role", "tenant_admin")
    op.fill("Tenant", "globex")
    op.fill("Initial password", "short")
    op.click("Create user", "button")
    assert "password" in op.wait_for(".field-error").text
    op.fill("Initial password", TADMIN_PASSWORD)
    op.click("Create user", "button")
    row = op.wait_for("main tbody tr", TADMIN)
    assert "tenant admin" in row.text and "globex" in row.text and "active" in row.text, row.text
    op.shot("users")

    # The tenant admin sees only their tenant's members and adds a developer.
    ta = open_console("tenant-admin")
    ta.sign_in(TADMIN, TADMIN_PASSWORD)
    ta.go("/users")
    assert ta.text("main h1") == "Members of globex"
    assert not ta.driver.find_elements(By.CSS_SELECTOR, "#users-tenant"), "a tenant admin chooses no tenant"
    options = [o.get_attribute("value") for o in ta.field("Role").find_elements(By.TAG_NAME, "option")]
    assert options == ["tenant_developer", "tenant_admin"], options
    assert "Tenants" not in ta.text(".sidebar")
    ta.fill("User name", "gus")
    ta.fill("Initial password", "gus-Pw-0123456789")
    ta.click("Create user", "button")
    ta.wait_for("main tbody tr", "gus")
    names = [r.text.split("\n")[0] for r in ta.driver.find_elements(By.CSS_SELECTOR, "main tbody tr")]
    assert sorted(names) == ["gus", TADMIN], names
    assert ok(admin_api("GET", "/admin/users/gus"))["tenant"] == "globex"
    ta.shot("members")

    # The operator disables, enables and deletes the developer.
    op.go("/users?tenant=globex")
    op.click("Disable", 'button[aria-label="Disable gus"]')
    op.wait_for("main tbody tr", "disabled")
    assert ok(admin_api("GET", "/admin/users/gus"))["disabled"] is True
    op.click("Enable", 'button[aria-label="Enable gus"]')
    op.wait_gone('button[aria-label="Enable gus"]')
    assert ok(admin_api("GET", "/admin/users/gus"))["disabled"] is False
    op.click("Delete", 'button[aria-label="Delete gus"]')
    op.click("Delete user", "dialog button")
    op.wait_gone('button[aria-label="Delete gus"]')
    assert admin_api("GET", "/admin/users/gus")[0] == 404
    # And deletes a tenant after confirming.
    ok(admin_api("POST", "/admin/tenants", {"name": "initech"}))
    op.go("/tenants")
    op.click("Delete", 'button[aria-label="Delete tenant initech"]')
    op.click("Delete tenant", "dialog button")
    op.wait_gone('button[aria-label="Delete tenant initech"]')
    assert admin_api("GET", "/admin/tenants/initech")[0] == 404


def models(open_console):
    tenant_with_developer()
    key = ok(admin_api("POST", "/admin/tenants/acme/apps/web/keys", {"name": "play"}))["key"]
    ok(admin_api("POST", "/admin/tenants/acme/apps/web/subscriptions", {"api": "llm"}))
    wait_key_works(key)
    c = open_console("developer")
    c.sign_in(DEV, DEV_PASSWORD)
    c.go("/models")
    row = c.wait_for("main tbody tr", "demo")
    assert "llm" in row.text and "/v1/chat/completions" in row.text, row.text
    # A key that cannot be one: the admin API's message, under the key's field.
    c.fill("API key", "not a key")
    c.fill("Message", "hello")
    c.click("Send", "button")
    assert "printable ASCII" in c.wait_for(".field-error").text
    assert c.field("API key").get_attribute("aria-invalid") == "true"
    assert not c.driver.find_elements(By.CSS_SELECTOR, ".playground-result *"), "a stale result is left"
    # A wrong key: the data plane's refusal is shown.
    c.fill("API key", "tg_notakey_0000")
    c.click("Send", "button")
    c.wait_for(".notice.error", "invalid API key")
    assert c.text(".play-status") == "401"
    # The real key: the answer, its tokens and the latency.
    c.fill("API key", key)
    c.fill("Message", "hello there")
    c.click("Send", "button")
    answer = c.wait_for(".play-answer", "hello there").text
    assert answer == "You said: hello there", answer
    assert c.text(".play-status") == "200"
    tokens = c.text(".play-tokens")
    assert " in · " in tokens and " out · " in tokens and "total" in tokens and "– in" not in tokens, tokens
    assert c.text(".play-latency").endswith(" ms")
    c.shot("playground")
    # The key lived in the page only: not in the address, not in storage.
    assert key not in c.driver.current_url
    stored = c.driver.execute_script("return JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie")
    assert key not in stored


def keyboard(open_console):
    tenant_with_developer(apps=())
    c = open_console("developer")
    c.driver.get(os.environ["TG_ADMIN_URL"] + "/console/")
    c.ready("signin")
    keys = ActionChains(c.driver)
    # The name field has the focus; Tab leads to the password, then to the button.
    assert active(c).get_attribute("autocomplete") == "username"
    keys.send_keys(DEV, Keys.TAB).perform()
    assert active(c).get_attribute("type") == "password"
    ActionChains(c.driver).send_keys(Keys.TAB).perform()
    assert active(c).text == "Sign in", active(c).text
    ActionChains(c.driver).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).send_keys(DEV_PASSWORD, Keys.ENTER).perform()
    c.ready("/")
    # The app form: Tab through its fields, Enter submits it.
    c.go("/apps")
    c.driver.execute_script("arguments[0].focus()", c.field("Name"))
    ActionChains(c.driver).send_keys("kb-app", Keys.TAB).perform()
    assert active(c).get_attribute("name") == "description"
    ActionChains(c.driver).send_keys("Made with the keyboard", Keys.TAB).perform()
    assert active(c).get_attribute("name") == "models"
    ActionChains(c.driver).send_keys(Keys.TAB).perform()
    assert active(c).text == "Create app"
    c.shot("keyboard-focus")
    ActionChains(c.driver).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).send_keys(Keys.ENTER).perform()
    c.ready("/apps/:tenant/:app")
    assert c.text("main h1") == "kb-app"
    assert ok(admin_api("GET", "/admin/tenants/acme/apps/kb-app"))["description"] == "Made with the keyboard"


def empty_states(open_console):
    # A fresh tenant whose catalog has nothing: every API put in draft.
    for name in ("orders", "llm", "shop", "partners"):
        ok(admin_api("PUT", f"/admin/apis/{name}/state", {"state": "draft"}))
    ok(admin_api("POST", "/admin/tenants", {"name": "fresh"}))
    ok(admin_api("POST", "/admin/users", {"name": TADMIN, "role": "tenant_admin", "tenant": "fresh", "password": TADMIN_PASSWORD}))
    c = open_console("fresh-admin")
    c.sign_in(TADMIN, TADMIN_PASSWORD)
    for route, text in (
        ("/catalog", "No API is visible to your tenant yet"),
        ("/models", "No model is available to your tenant yet"),
        ("/apps", "fresh has no app yet"),
        ("/subscriptions", "No subscription yet"),
    ):
        c.go(route)
        c.wait_for(".empty", text)
        c.shot(f"empty{route.replace('/', '-')}")
    # An API that left the catalog (a draft now) is not shown, with the way back.
    c.go("/catalog/orders", "/catalog/:api")
    c.wait_for(".empty", "There is no published API of this name")
    c.go("/users")
    # The only member is the admin themself.
    assert [r.text.split("\n")[0] for r in c.driver.find_elements(By.CSS_SELECTOR, "main tbody tr")] == [TADMIN]
    op = open_console("operator")
    op.sign_in(OP, OP_PASSWORD)
    op.go("/approvals")
    op.wait_for(".empty", "No request is waiting")
    op.shot("empty-approvals")


run({
    "catalog": catalog,
    "apps_and_keys": apps_and_keys,
    "approvals": approvals,
    "people": people,
    "models": models,
    "keyboard": keyboard,
    "empty_states": empty_states,
})
