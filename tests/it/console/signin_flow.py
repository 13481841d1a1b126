"""Signing in and out of the console, a wrong password shown at the form, and a session that
expires while the console is open (tests/it/console.rs starts the gateway)."""

import os
import time

from browser import run

OP, PASSWORD = os.environ["TG_OP_NAME"], os.environ["TG_OP_PASSWORD"]


def sign_in_and_out(open_console):
    c = open_console("operator")
    c.driver.get(os.environ["TG_ADMIN_URL"] + "/console/")
    c.ready("signin")
    c.shot("sign-in")
    c.fill("User name", OP)
    c.fill("Password", "not-the-password")
    c.click("Sign in", "button")
    error = c.wait_for(".form-error, .field-error")
    assert "password" in error.text.lower() or "name" in error.text.lower(), error.text
    c.shot("wrong-password")
    c.sign_in(OP, PASSWORD)
    assert f"Welcome, {OP}" in c.text("main h1")
    assert "operator" in c.text(".topbar").lower()
    c.shot("overview")
    c.sign_out()
    # Signed out for real: a reload asks for a sign-in again.
    c.driver.get(os.environ["TG_ADMIN_URL"] + "/console/#/")
    c.ready("signin")


def session_expires(open_console):
    c = open_console("operator")
    c.sign_in(OP, PASSWORD)
    # The gateway's session_ttl is short: keep using the console until it says the session ended.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        c.driver.execute_script("location.hash = location.hash === '#/' ? '#/?again' : '#/'")
        main = c.wait_for("main")
        if main.get_attribute("data-ready") == "signin":
            break
        time.sleep(0.2)
    c.wait_for(".notice", "session has ended")
    c.shot("session-expired")
    c.sign_in(OP, PASSWORD)


run({"sign_in_and_out": sign_in_and_out, "session_expires": session_expires})
