"""The console pages that manage APIs and models live (tests/it/console_manage.rs starts the
gateway): an operator creates an upstream and a route, publishes the API and calls it through
the data plane; creates a provider and a model and chats with it; a bad entry's error is shown
next to its field; a declared (TOML) entry has no edit controls; a stored route a reload broke
says why."""

import json
import os

from browser import admin_api, data_plane, run, until

OP, PASSWORD = os.environ["TG_OP_NAME"], os.environ["TG_OP_PASSWORD"]
DATA = os.environ["TG_DATA_URL"].rstrip("/")
# A second in-test upstream, answering "shipping".
SHIP = os.environ.get("TG_SHIP_ADDR", "")
# A third, answering "shipping-2": the upstream's target after an edit.
SHIP2 = os.environ.get("TG_SHIP2_ADDR", "")


def field_error(c, label):
    """The error shown under the control labelled `label`."""
    control = c.field(label)
    assert control.get_attribute("aria-invalid") == "true", f"{label} is not marked invalid"
    return c.driver.find_element("id", control.get_attribute("aria-errormessage")).text


def save(c, text="Create"):
    c.click(text, "form button[type=submit]")


def routes_and_upstreams(open_console):
    c = open_console("operator")
    c.sign_in(OP, PASSWORD)

    # A declared upstream: listed as read-only, and its page has no edit controls.
    c.go("/upstreams")
    row = c.wait_for("tr.upstream-orders-svc")
    assert "read-only" in row.text and "Edit" not in row.text and "Delete" not in row.text, row.text
    c.shot("upstreams")
    c.click("View", "tr.upstream-orders-svc a")
    c.ready("/upstreams/edit/:name")
    assert "Declared in the configuration file" in c.text(".notice")
    assert not c.driver.find_elements("css selector", "main form"), "a declared upstream has a form"
    assert not [b for b in c.driver.find_elements("css selector", "main button") if "Delete" in b.text]
    c.shot("declared-upstream")

    # A bad upstream: the server's error shows under the Targets field.
    c.go("/upstreams/new")
    c.fill("Name", "shipping-svc")
    c.fill("Targets", "no-port-here")
    save(c, "Create upstream")
    c.wait_for(".field-error", "no port")
    assert "no port" in field_error(c, "Targets")
    c.shot("bad-upstream")
    c.fill("Targets", SHIP)
    save(c, "Create upstream")
    c.ready("/upstreams")
    row = c.wait_for("tr.upstream-shipping-svc")
    assert SHIP in row.text and "store" in row.text, row.text
    c.shot("upstream-created")

    # A route to it: a missing upstream is named next to the Upstream field (sent through the
    # JSON editor, since the form only offers existing ones).
    c.go("/apis/new")
    c.fill("Name", "shipping")
    c.fill("Path prefix", "/shipping")
    c.fill("Authentication", "none")
    c.click("Advanced", "summary")
    table = c.field("The whole route as JSON")
    body = json.loads(table.get_attribute("value"))
    assert body["upstream"] == "orders-svc" and body["api"]["state"] == "draft", body
    body["upstream"] = "nope"
    table.clear()
    table.send_keys(json.dumps(body))
    save(c, "Create route from JSON")
    error = c.wait_for(".advanced .form-error")
    assert 'routes[shipping].upstream: no upstream named "nope"' in error.text, error.text
    # The form, with an upstream that does not exist, shows it under the field.
    c.fill("Upstream", "shipping-svc")
    c.driver.execute_script(
        "const s = arguments[0]; s.append(new Option('gone', 'gone')); s.value = 'gone';",
        c.field("Upstream"))
    save(c, "Create route")
    c.wait_for(".field-error", "no upstream")
    assert 'no upstream named "gone"' in field_error(c, "Upstream")
    c.shot("bad-route")
    c.fill("Upstream", "shipping-svc")
    c.fill("Description", "Shipping: labels and tracking.")
    c.fill("Version", "0.9.0")
    save(c, "Create route")
    c.ready("/apis")
    row = c.wait_for("tr.api-shipping")
    assert "draft" in row.text and "store" in row.text and "Publish" in row.text, row.text
    c.shot("route-created")
    # A draft is not routable.
    until("the draft route", lambda: (lambda s: (s[0] == 404, s))(data_plane("GET", "/shipping/x")))

    # Publish it, with a confirm; then the data plane answers from the in-test upstream.
    c.click("Publish", "tr.api-shipping button")
    c.wait_for("dialog", "Publish shipping?")
    c.shot("publish-confirm")
    c.click("Publish", "dialog button")
    c.wait_for("tr.api-shipping", "published")
    c.shot("published")
    seen = until("the published route", lambda: (lambda s: (s == (200, "shipping"), s))(data_plane("GET", "/shipping/x")))
    print(f"published route answered {seen}")

    # Edit the upstream's target through its form: the route follows it.
    if SHIP2:
        c.go("/upstreams")
        c.click("Edit", "tr.upstream-shipping-svc a")
        c.ready("/upstreams/edit/:name")
        c.fill("Targets", SHIP2)
        c.fill("Health check path", "/health")
        save(c, "Save changes")
        c.ready("/upstreams")
        row = c.wait_for("tr.upstream-shipping-svc", SHIP2)
        assert "/health" in row.text, row.text
        until("the edited upstream", lambda: (lambda s: (s == (200, "shipping-2"), s))(data_plane("GET", "/shipping/x")))
        c.go("/apis")

    # Deprecate it, naming its successor and sunset date in the dialog.
    c.click("Deprecate", "tr.api-shipping button")
    c.wait_for("dialog", "Deprecate shipping?")
    c.fill("Successor", "orders")
    c.driver.execute_script("arguments[0].value = '2027-06-30'", c.field("Sunset date"))
    c.shot("deprecate-dialog")
    c.click("Deprecate", "dialog button[type=submit]")
    row = c.wait_for("tr.api-shipping", "deprecated")
    assert "orders" in row.text and "2027-06-30" in row.text, row.text
    status, shown = admin_api("GET", "/admin/apis/shipping")
    assert shown["state"] == "deprecated" and shown["successor"] == "orders", shown
    assert shown["sunset"].startswith("2027-06-30"), shown

    # A declared route: no edit or delete.
    row = c.wait_for("tr.api-orders")
    assert "read-only" in row.text and "Delete" not in row.text, row.text

    # Edit the stored route (its description); then delete it and it 404s.
    c.click("Edit", "tr.api-shipping a")
    c.ready("/apis/route/:name")
    assert c.field("Name").get_attribute("readonly") is not None
    c.fill("Description", "Shipping, edited.")
    save(c, "Save changes")
    c.ready("/apis")
    status, route = admin_api("GET", "/admin/routes/shipping")
    assert status == 200 and route["api"]["description"] == "Shipping, edited.", route
    # The upstream is in use: its delete is refused and the reason shown.
    c.go("/upstreams")
    c.click("Delete", "tr.upstream-shipping-svc button")
    c.click("Delete", "dialog button")
    c.wait_for(".toast.error", "upstream")
    c.shot("upstream-in-use")
    c.go("/apis")
    c.click("Delete", "tr.api-shipping button")
    c.click("Delete", "dialog button")
    c.wait_gone("tr.api-shipping")
    until("the deleted route", lambda: (lambda s: (s[0] == 404, s))(data_plane("GET", "/shipping/x")))
    c.shot("route-deleted")


def providers_and_models(open_console):
    c = open_console("operator")
    c.sign_in(OP, PASSWORD)

    # Declared ones are read-only.
    c.go("/providers")
    row = c.wait_for("tr.provider-mock")
    assert "read-only" in row.text and "Edit" not in row.text, row.text
    c.go("/admin-models")
    row = c.wait_for("tr.model-demo")
    assert "read-only" in row.text and "Edit" not in row.text, row.text

    # A provider with a literal key, which is never shown again.
    c.go("/providers/new")
    c.fill("Name", "mock2")
    c.fill("Kind", "mock")
    c.fill("API key", "sk-literal-never-shown-4242")
    save(c, "Create provider")
    c.ready("/providers")
    row = c.wait_for("tr.provider-mock2")
    assert "set (hidden)" in row.text, row.text
    assert "sk-literal" not in c.driver.page_source
    c.shot("provider-created")
    c.click("Edit", "tr.provider-mock2 a")
    c.ready("/providers/edit/:name")
    assert c.field("API key").get_attribute("value") == ""
    assert "sk-literal" not in c.driver.page_source
    # A mock provider takes no base URL: said under the field.
    c.fill("Base URL", "http://127.0.0.1:9/v1")
    save(c, "Save changes")
    c.wait_for(".field-error", "base_url")
    assert "a mock provider has no base_url" in field_error(c, "Base URL")
    # Saved with the key left empty: the stored key stays.
    c.field("Base URL").clear()
    save(c, "Save changes")
    c.ready("/providers")
    status, provider = admin_api("GET", "/admin/providers/mock2")
    assert status == 200 and provider["api_key"] == "********", provider

    # A provider whose key is a ${VAR} reference: shown as written, and deleted.
    c.go("/providers/new")
    c.fill("Name", "mock3")
    c.fill("Kind", "mock")
    c.fill("API key", "${OP_PASSWORD}")
    save(c, "Create provider")
    c.ready("/providers")
    row = c.wait_for("tr.provider-mock3")
    assert "${OP_PASSWORD}" in row.text, row.text
    c.click("Edit", "tr.provider-mock3 a")
    c.ready("/providers/edit/:name")
    key = c.field("API key")
    assert key.get_attribute("type") == "text" and key.get_attribute("value") == "${OP_PASSWORD}"
    c.go("/providers")
    c.click("Delete", "tr.provider-mock3 button")
    c.click("Delete", "dialog button")
    c.wait_gone("tr.provider-mock3")

    # A model with a bad deployment: the error is under Deployments.
    c.go("/admin-models/new")
    c.fill("Name", "chatty")
    c.fill("Deployments", "nosuch mock-1")
    save(c, "Create model")
    c.wait_for(".field-error", "no provider")
    assert 'no provider named "nosuch"' in field_error(c, "Deployments")
    c.shot("bad-model")
    c.fill("Deployments", "mock2 mock-1")
    c.fill("Input price (USD per million tokens)", "1.5")
    save(c, "Create model")
    c.ready("/admin-models")
    row = c.wait_for("tr.model-chatty")
    assert "mock2 mock-1" in row.text and "$1.50" in row.text, row.text
    c.shot("model-created")

    # A chat with it through the data plane, with a key of an app subscribed to the LLM API.
    for method, path, body in [
        ("POST", "/admin/tenants", {"name": "acme"}),
        ("POST", "/admin/tenants/acme/apps", {"name": "bot"}),
        ("POST", "/admin/tenants/acme/apps/bot/subscriptions", {"api": "llm"}),
    ]:
        status, answer = admin_api(method, path, body)
        assert status in (200, 201), (path, status, answer)
    status, answer = admin_api("POST", "/admin/tenants/acme/apps/bot/keys", {"name": "test"})
    assert status == 201, answer
    key = answer["key"]
    chat = {"model": "chatty", "messages": [{"role": "user", "content": "hello"}]}

    def chatted():
        status, text = data_plane("POST", "/v1/chat/completions", key, chat)
        if status != 200:
            return False, (status, text)
        return True, json.loads(text)

    answer = until("the chat with the new model", chatted)
    assert answer["choices"][0]["message"]["content"], answer
    print(f"chat answered: {answer['choices'][0]['message']['content']!r}")

    # The provider is in use: deleting it is refused; the model then the provider go.
    c.go("/providers")
    c.click("Delete", "tr.provider-mock2 button")
    c.click("Delete", "dialog button")
    c.wait_for(".toast.error", "provider")
    c.go("/admin-models")
    c.click("Delete", "tr.model-chatty button")
    c.click("Delete", "dialog button")
    c.wait_gone("tr.model-chatty")
    c.shot("model-deleted")


def left_out(open_console):
    """A stored route whose upstream a reload removed: listed as not served, with the reason,
    and still editable (pointed at another upstream, it serves again)."""
    c = open_console("operator")
    c.sign_in(OP, PASSWORD)
    c.go("/apis")
    row = c.wait_for("tr.api-legacy")
    assert "not served" in row.text and 'no upstream named "extra-svc"' in row.text, row.text
    assert "Publish" not in row.text and "Deprecate" not in row.text, row.text
    c.shot("left-out")
    c.click("Edit", "tr.api-legacy a")
    c.ready("/apis/route/:name")
    assert "Not served" in c.text(".notice.error")
    c.fill("Upstream", "orders-svc")
    save(c, "Save changes")
    c.ready("/apis")
    row = c.wait_for("tr.api-legacy", "published")
    assert "not served" not in row.text, row.text
    until("the fixed route", lambda: (lambda s: (s == (200, "orders"), s))(data_plane("GET", "/legacy/x")))


run({"routes_and_upstreams": routes_and_upstreams, "providers_and_models": providers_and_models, "left_out": left_out})
