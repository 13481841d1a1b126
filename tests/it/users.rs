//! Users of the admin API against the real binary and a real SQLite store: the bootstrap
//! operator, signing in (cookie attributes, `/admin/me`, signing out, expiry), CSRF on a
//! session's changes, lockout after wrong passwords and its end, the per-address limit,
//! personal tokens (use, audit, revocation), tenant admins managing their members, and a
//! test generated from `openapi.json` that calls every endpoint as a tenant user with another
//! tenant's objects. Passwords and tokens never show in logs, audit rows, answers or the file.

use crate::common;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const OP_PASSWORD: &str = "root-pass-Vq83-never-logged";
const DOC: &str = include_str!("../../src/admin/openapi.json");

/// A gateway with a store, a bootstrap operator `root` (its password from the environment)
/// and `extra` more `[admin]` keys.
fn start(extra: &str) -> Gateway {
    let port = free_port();
    let admin_port = free_port();
    let token_line = format!("token = \"{ADMIN_TOKEN}\"\n");
    let admin = format!(
        "{token_line}bootstrap_operator = {{ name = \"root\", password = \"${{OP_PASSWORD}}\" }}\n{extra}\n"
    );
    let text = base_config(port, admin_port, 1, "").replace(&token_line, &admin);
    let text = format!(
        r#"{text}
[store]
path = "tollgate.db"
secret_key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

[[upstreams]]
name = "svc"
targets = ["127.0.0.1:9"]

[[routes]]
name = "orders"
path_prefix = "/orders"
upstream = "svc"
[routes.api]
auth = "api_key"
approval = "manual"

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "demo"
deployments = [{{ provider = "mock", model = "mock-1" }}]
"#
    );
    Gateway::start_text_with(port, admin_port, &text, |c| {
        c.env("OP_PASSWORD", OP_PASSWORD);
    })
}

/// How a request proves who sends it.
#[derive(Clone, Copy)]
enum Cred<'a> {
    None,
    Bearer(&'a str),
    Session { id: &'a str, csrf: Option<&'a str> },
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

fn send(gw: &Gateway, method: &str, path: &str, cred: Cred, body: Option<Value>) -> Answer {
    send_with(gw, method, path, cred, body, &[])
}

fn send_with(
    gw: &Gateway,
    method: &str,
    path: &str,
    cred: Cred,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Answer {
    let url = format!("http://127.0.0.1:{}{path}", gw.admin_port);
    let mut req = client().request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
    match cred {
        Cred::None => {}
        Cred::Bearer(t) => req = req.header("authorization", format!("Bearer {t}")),
        Cred::Session { id, csrf } => {
            req = req.header("cookie", format!("other=1; tollgate_session={id}"));
            if let Some(c) = csrf {
                req = req.header("x-csrf-token", c);
            }
        }
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = req.send().unwrap();
    Answer {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        text: r.text().unwrap(),
    }
}

fn admin(gw: &Gateway, method: &str, path: &str, body: Option<Value>) -> Value {
    let a = send(gw, method, path, Cred::Bearer(ADMIN_TOKEN), body);
    assert!(
        (200..300).contains(&a.status),
        "{method} {path}: {} {}",
        a.status,
        a.text
    );
    a.json()
}

/// Signs in; (session id, CSRF token, the whole answer).
fn login(gw: &Gateway, name: &str, password: &str) -> (String, String, Answer) {
    let a = send(
        gw,
        "POST",
        "/admin/login",
        Cred::None,
        Some(json!({"name": name, "password": password})),
    );
    assert_eq!(a.status, 200, "sign-in of {name}: {}", a.text);
    let cookie = a.headers["set-cookie"].to_str().unwrap().to_string();
    let id = cookie
        .strip_prefix("tollgate_session=")
        .and_then(|r| r.split(';').next())
        .unwrap()
        .to_string();
    let csrf = a.json()["csrf_token"].as_str().unwrap().to_string();
    (id, csrf, a)
}

/// A personal token of `name`, made through a session.
fn token_of(gw: &Gateway, name: &str, password: &str) -> (String, String) {
    let (id, csrf, _) = login(gw, name, password);
    let a = send(
        gw,
        "POST",
        "/admin/me/tokens",
        Cred::Session {
            id: &id,
            csrf: Some(&csrf),
        },
        Some(json!({"name": "cli"})),
    );
    assert_eq!(a.status, 201, "{}", a.text);
    let v = a.json();
    (
        v["token"].as_str().unwrap().to_string(),
        v["id"].as_str().unwrap().to_string(),
    )
}

fn make_user(gw: &Gateway, name: &str, role: &str, tenant: Option<&str>, password: &str) {
    let mut body = json!({"name": name, "role": role, "password": password});
    if let Some(t) = tenant {
        body["tenant"] = t.into();
    }
    admin(gw, "POST", "/admin/users", Some(body));
}

/// None of `secrets` is in the gateway's logs, the audit trail or the store's files.
fn nowhere(gw: &Gateway, secrets: &[&str]) {
    let audit = admin(gw, "GET", "/admin/audit?limit=10000", None).to_string();
    let mut files = String::new();
    for f in ["tollgate.db", "tollgate.db-wal"] {
        let bytes = std::fs::read(gw.dir.path().join(f)).unwrap_or_default();
        files.push_str(&String::from_utf8_lossy(&bytes));
    }
    for s in secrets {
        assert!(!gw.stderr().contains(s), "{s} in the gateway's log");
        assert!(!gw.access_log().contains(s), "{s} in the access log");
        assert!(!audit.contains(s), "{s} in the audit trail");
        assert!(!files.contains(s), "{s} in the store's files");
    }
}

#[test]
fn the_operator_signs_in_changes_with_csrf_and_signs_out() {
    let gw = start("");
    // No cookie, no token: 401, and the answer says how to sign in.
    let a = send(&gw, "GET", "/admin/me", Cred::None, None);
    assert_eq!(a.status, 401);
    assert!(a.text.contains("/admin/login"), "{}", a.text);

    let (id, csrf, answer) = login(&gw, "root", OP_PASSWORD);
    let cookie = answer.headers["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let user = &answer.json()["user"];
    assert_eq!(user["role"], "operator");
    assert!(user.get("password_hash").is_none() && !answer.text.contains("argon2"));

    let session = Cred::Session {
        id: &id,
        csrf: None,
    };
    let me = send(&gw, "GET", "/admin/me", session, None).json();
    assert_eq!(me["name"], "root");
    assert_eq!(me["via"], "session");
    assert_eq!(me["csrf_token"], csrf.as_str());
    assert_eq!(
        send(&gw, "GET", "/admin/tenants", session, None).status,
        200
    );

    // A change with the cookie alone is refused; with the CSRF token it is made.
    let body = json!({"name": "acme"});
    let a = send(&gw, "POST", "/admin/tenants", session, Some(body.clone()));
    assert_eq!(a.status, 403, "{}", a.text);
    assert!(a.text.contains("X-CSRF-Token"), "{}", a.text);
    let wrong = Cred::Session {
        id: &id,
        csrf: Some("not-the-token"),
    };
    assert_eq!(
        send(&gw, "POST", "/admin/tenants", wrong, Some(body.clone())).status,
        403
    );
    assert_eq!(
        admin(&gw, "GET", "/admin/tenants", None)
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let with = Cred::Session {
        id: &id,
        csrf: Some(&csrf),
    };
    assert_eq!(
        send(&gw, "POST", "/admin/tenants", with, Some(body)).status,
        201
    );
    // The audit trail names the user, not a header.
    let audit = admin(&gw, "GET", "/admin/audit?action=tenant.create", None);
    assert_eq!(audit[0]["actor"], "root");

    // Signing out needs the CSRF token too, then the session is gone.
    assert_eq!(
        send(&gw, "POST", "/admin/logout", session, None).status,
        403
    );
    let out = send(&gw, "POST", "/admin/logout", with, None);
    assert_eq!(out.status, 204);
    assert!(out.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let a = send(&gw, "GET", "/admin/me", session, None);
    assert_eq!(a.status, 401);
    assert!(a.text.contains("sign in again"), "{}", a.text);
    // The admin token keeps working as an operator.
    let me = admin(&gw, "GET", "/admin/me", None);
    assert_eq!(
        (me["name"].as_str(), me["via"].as_str()),
        (Some("admin-token"), Some("admin_token"))
    );

    nowhere(&gw, &[OP_PASSWORD, &id, &csrf]);
}

#[test]
fn wrong_passwords_lock_a_user_out_until_the_lockout_ends() {
    let gw = start("login_max_failures = 3\nlogin_lockout = \"2s\"\nlogin_per_ip = 1000");
    let wrong = |name: &str| {
        send(
            &gw,
            "POST",
            "/admin/login",
            Cred::None,
            Some(json!({"name": name, "password": "wrong-password-1"})),
        )
    };
    // An unknown name gets the answer of a wrong password.
    let unknown = wrong("nobody");
    assert_eq!(unknown.status, 401);
    assert!(
        unknown.text.contains("wrong name or password"),
        "{}",
        unknown.text
    );
    for _ in 0..2 {
        let a = wrong("root");
        assert_eq!(
            (a.status, a.text.contains("wrong name or password")),
            (401, true),
            "{}",
            a.text
        );
    }
    let locked = wrong("root");
    assert_eq!(locked.status, 429, "{}", locked.text);
    let retry: i64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    // The right password does not open a locked account.
    let body = json!({"name": "root", "password": OP_PASSWORD});
    let a = send(&gw, "POST", "/admin/login", Cred::None, Some(body.clone()));
    assert_eq!(a.status, 429, "{}", a.text);
    assert!(a.headers.contains_key("retry-after"));
    // Once the lockout is over, it does.
    let signed_in = wait_for("the lockout to end", Duration::from_secs(10), || {
        let a = send(&gw, "POST", "/admin/login", Cred::None, Some(body.clone()));
        (a.status == 200).then_some(a)
    });
    assert_eq!(signed_in.json()["user"]["name"], "root");
    let audit = admin(&gw, "GET", "/admin/audit?action=user.login_failed", None);
    assert_eq!(audit.as_array().unwrap().len(), 3, "{audit}");
    assert!(
        !audit.to_string().contains("nobody"),
        "unknown names are not audited"
    );
    nowhere(&gw, &[OP_PASSWORD, "wrong-password-1"]);
}

#[test]
fn sessions_expire_and_one_address_is_limited() {
    let gw = start("session_ttl = \"2s\"\nlogin_per_ip = 3");
    let (id, _, answer) = login(&gw, "root", OP_PASSWORD);
    assert!(answer.headers["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=2"));
    let session = Cred::Session {
        id: &id,
        csrf: None,
    };
    assert_eq!(send(&gw, "GET", "/admin/me", session, None).status, 200);
    wait_for("the session to expire", Duration::from_secs(10), || {
        (send(&gw, "GET", "/admin/me", session, None).status == 401).then_some(())
    });
    // Three attempts a minute from one address: past them, any name waits. Seven attempts
    // span at most two minutes, so one of those minutes sees a fourth.
    let wrong = json!({"name": "nobody", "password": "whatever-password"});
    let limited = (0..7)
        .map(|_| send(&gw, "POST", "/admin/login", Cred::None, Some(wrong.clone())))
        .find(|a| a.status != 401)
        .expect("a refusal within 7 attempts");
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert!(limited.text.contains("this address"), "{}", limited.text);
    let wait: i64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    if wait >= 2 {
        // Still the same minute: the right password of a real user waits too.
        let body = json!({"name": "root", "password": OP_PASSWORD});
        let a = send(&gw, "POST", "/admin/login", Cred::None, Some(body));
        assert_eq!(a.status, 429, "{}", a.text);
    }
}

#[test]
fn personal_tokens_act_as_their_user_until_revoked() {
    let gw = start("");
    admin(&gw, "POST", "/admin/tenants", Some(json!({"name": "acme"})));
    make_user(&gw, "ann", "tenant_admin", Some("acme"), "ann-password-123");
    let (token, token_id) = token_of(&gw, "ann", "ann-password-123");
    assert!(token.starts_with("tgu_"), "{token}");
    let ann = Cred::Bearer(&token);
    let me = send(&gw, "GET", "/admin/me", ann, None).json();
    assert_eq!(
        (me["name"].as_str(), me["tenant"].as_str()),
        (Some("ann"), Some("acme"))
    );
    assert_eq!(me["via"], "token");
    assert!(me.get("csrf_token").is_none());
    // A bearer token needs no CSRF token; a claimed actor does not change who is audited.
    let a = send_with(
        &gw,
        "POST",
        "/admin/tenants/acme/apps",
        ann,
        Some(json!({"name": "web"})),
        &[("x-tollgate-actor", "root")],
    );
    assert_eq!(a.status, 201, "{}", a.text);
    let audit = admin(&gw, "GET", "/admin/audit?action=app.create", None);
    assert_eq!(audit[0]["actor"], "ann");
    // Listed without the secret.
    let list = send(&gw, "GET", "/admin/me/tokens", ann, None);
    assert_eq!(list.json()[0]["id"], token_id.as_str());
    assert!(!list.text.contains(&token));
    // Revoked: refused at once.
    let path = format!("/admin/me/tokens/{token_id}");
    assert_eq!(send(&gw, "DELETE", &path, ann, None).status, 204);
    let a = send(&gw, "GET", "/admin/me", ann, None);
    assert_eq!(a.status, 401);
    assert!(a.text.contains("revoked"), "{}", a.text);
    // The admin token has no personal tokens.
    let a = send(
        &gw,
        "POST",
        "/admin/me/tokens",
        Cred::Bearer(ADMIN_TOKEN),
        Some(json!({})),
    );
    assert_eq!(a.status, 400, "{}", a.text);
    nowhere(
        &gw,
        &[
            &token,
            "ann-password-123",
            token.rsplit('_').next().unwrap(),
        ],
    );
}

#[test]
fn tenant_admins_manage_their_own_members_only() {
    let gw = start("");
    for t in ["acme", "globex"] {
        admin(&gw, "POST", "/admin/tenants", Some(json!({"name": t})));
    }
    make_user(&gw, "ann", "tenant_admin", Some("acme"), "ann-password-123");
    make_user(
        &gw,
        "gus",
        "tenant_developer",
        Some("globex"),
        "gus-password-123",
    );
    let (token, _) = token_of(&gw, "ann", "ann-password-123");
    let ann = Cred::Bearer(&token);
    let new = |body: Value| send(&gw, "POST", "/admin/users", ann, Some(body));
    let dev =
        new(json!({"name": "dev", "role": "tenant_developer", "password": "dev-password-123"}));
    assert_eq!(dev.status, 201, "{}", dev.text);
    assert_eq!(dev.json()["tenant"], "acme", "their tenant when left out");
    assert!(!dev.text.contains("dev-password-123") && !dev.text.contains("argon2"));
    let op = new(json!({"name": "evil", "role": "operator", "password": "evil-password-123"}));
    assert_eq!(op.status, 403, "{}", op.text);
    let other = new(
        json!({"name": "evil", "role": "tenant_admin", "tenant": "globex",
                           "password": "evil-password-123"}),
    );
    assert_eq!(other.status, 403, "{}", other.text);
    let short = new(json!({"name": "x", "role": "tenant_developer", "password": "short"}));
    assert_eq!(short.status, 400);
    assert!(short.text.contains("body.password"), "{}", short.text);
    // The list is theirs only, whatever the filter.
    let list = send(&gw, "GET", "/admin/users", ann, None).json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ann", "dev"]);
    assert_eq!(
        send(&gw, "GET", "/admin/users?tenant=globex", ann, None).status,
        403
    );
    // Another tenant's member, or an operator, reads as missing.
    for name in ["gus", "root"] {
        let path = format!("/admin/users/{name}");
        assert_eq!(
            send(&gw, "PATCH", &path, ann, Some(json!({"disabled": true}))).status,
            404
        );
    }
    // Promoting a member to operator is refused; disabling one ends their sign-ins.
    let patch = |body: Value| send(&gw, "PATCH", "/admin/users/dev", ann, Some(body)).status;
    assert_eq!(patch(json!({"role": "operator"})), 403);
    assert_eq!(patch(json!({"tenant": "globex"})), 403);
    assert_eq!(patch(json!({"disabled": true})), 200);
    let a = send(
        &gw,
        "POST",
        "/admin/login",
        Cred::None,
        Some(json!({"name": "dev", "password": "dev-password-123"})),
    );
    assert_eq!(a.status, 403, "{}", a.text);
    // A developer manages no one.
    make_user(
        &gw,
        "dora",
        "tenant_developer",
        Some("acme"),
        "dora-password-123",
    );
    let (dtoken, _) = token_of(&gw, "dora", "dora-password-123");
    assert_eq!(
        send(&gw, "GET", "/admin/users", Cred::Bearer(&dtoken), None).status,
        403
    );
    // The gateway's metrics and readiness are the operators'.
    for path in ["/metrics", "/readyz"] {
        let a = send(&gw, "GET", path, Cred::Bearer(&dtoken), None);
        assert_eq!(a.status, 403, "{path}: {}", a.text);
    }
    nowhere(
        &gw,
        &[
            "ann-password-123",
            "dev-password-123",
            "evil-password-123",
            &token,
            &dtoken,
        ],
    );
}

/// The operations that act on the caller only, with no object of any tenant to reach.
const OWN: &[(&str, &str)] = &[
    ("get", "/admin/openapi.json"),
    ("post", "/admin/login"),
    ("post", "/admin/logout"),
    ("get", "/admin/me"),
    ("get", "/admin/me/tokens"),
    ("post", "/admin/me/tokens"),
    // Names no tenant's object: the pasted key decides on the data plane, as from any client.
    ("post", "/admin/playground"),
];

/// Every operation of the document, called by tenant users of `acme` with `globex`'s objects
/// in the path (and `?tenant=globex`), answers 403 or 404 and changes nothing.
#[test]
fn no_endpoint_lets_a_tenant_user_reach_another_tenant() {
    let gw = start("");
    for t in ["acme", "globex"] {
        admin(&gw, "POST", "/admin/tenants", Some(json!({"name": t})));
    }
    admin(
        &gw,
        "POST",
        "/admin/tenants/acme/apps",
        Some(json!({"name": "web"})),
    );
    admin(
        &gw,
        "POST",
        "/admin/tenants/globex/apps",
        Some(json!({"name": "shop"})),
    );
    let key = admin(
        &gw,
        "POST",
        "/admin/tenants/globex/apps/shop/keys",
        Some(json!({})),
    );
    let key_id = key["id"].as_str().unwrap().to_string();
    let sub = admin(
        &gw,
        "POST",
        "/admin/tenants/globex/apps/shop/subscriptions",
        Some(json!({"api": "orders"})),
    );
    let sub_id = sub["id"].to_string();
    make_user(&gw, "ann", "tenant_admin", Some("acme"), "ann-password-123");
    make_user(
        &gw,
        "dev",
        "tenant_developer",
        Some("acme"),
        "dev-password-123",
    );
    make_user(
        &gw,
        "gus",
        "tenant_admin",
        Some("globex"),
        "gus-password-123",
    );
    let (_, gus_token_id) = token_of(&gw, "gus", "gus-password-123");
    let (ann, _) = token_of(&gw, "ann", "ann-password-123");
    let (dev, _) = token_of(&gw, "dev", "dev-password-123");

    let doc: Value = serde_json::from_str(DOC).unwrap();
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            if method == "parameters" || OWN.contains(&(method.as_str(), template.as_str())) {
                continue;
            }
            let path = template
                .replace("{tenant}", "globex")
                .replace("{app}", "shop")
                .replace("{provider}", "mock")
                .replace("{limit}", "per-ip")
                .replace("{request_id}", "r1");
            let path = if path.starts_with("/admin/keys/") {
                path.replace("{id}", &key_id)
            } else if path.starts_with("/admin/subscriptions/") {
                path.replace("{id}", &sub_id)
            } else if path.starts_with("/admin/me/tokens/") {
                path.replace("{id}", &gus_token_id)
            } else if path.starts_with("/admin/users/") {
                path.replace("{name}", "gus")
            } else {
                path.replace("{name}", "orders")
            };
            let path = format!("{path}?tenant=globex");
            let m = method.to_uppercase();
            let body = matches!(m.as_str(), "POST" | "PUT" | "PATCH").then(|| {
                json!({"name": "x", "api": "orders", "role": "tenant_developer",
                                "password": "some-password-123", "description": "x"})
            });
            for (who, token) in [("ann", &ann), ("dev", &dev)] {
                let a = send(&gw, &m, &path, Cred::Bearer(token), body.clone());
                assert!(
                    a.status == 403 || a.status == 404,
                    "{m} {path} as {who} of acme: {} {}",
                    a.status,
                    a.text
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 80, "{checked} calls");
    // globex's objects are as they were.
    let k = admin(&gw, "GET", &format!("/admin/keys/{key_id}"), None);
    assert!(k["revoked_at"].is_null(), "{k}");
    let s = admin(&gw, "GET", &format!("/admin/subscriptions/{sub_id}"), None);
    assert_eq!(s["state"], "pending");
    let gus = admin(&gw, "GET", "/admin/users/gus", None);
    assert_eq!(gus["disabled"], false);
    let apps = admin(&gw, "GET", "/admin/tenants/globex/apps", None);
    assert_eq!(apps.as_array().unwrap().len(), 1);
    // And the same users reach their own tenant: the refusals above are about the tenant.
    let own = send(
        &gw,
        "GET",
        "/admin/tenants/acme/apps",
        Cred::Bearer(&dev),
        None,
    );
    assert_eq!(own.status, 200, "{}", own.text);
    let subs = send(&gw, "GET", "/admin/subscriptions", Cred::Bearer(&dev), None);
    assert_eq!((subs.status, subs.json()), (200, json!([])));
    let mine = send(
        &gw,
        "POST",
        "/admin/tenants/acme/apps/web/keys",
        Cred::Bearer(&dev),
        Some(json!({})),
    );
    assert_eq!(mine.status, 201, "{}", mine.text);
}

/// `tollgate validate` names each bad `[admin]` key about users.
#[test]
fn bad_user_settings_are_named_by_validate() {
    let text = r#"
[admin]
listen = "127.0.0.1:1"
bootstrap_operator = { name = "Root!", password = "x" }
session_ttl = "0s"
login_max_failures = 0
login_per_ip = 0
"#;
    let (ok, out) = validate(text);
    assert!(!ok, "{out}");
    for problem in [
        "admin.bootstrap_operator: name \"Root!\"",
        "admin.session_ttl: give a duration longer than 0s",
        "admin.login_max_failures: at least 1",
        "admin.login_per_ip: at least 1",
    ] {
        assert!(out.contains(problem), "{problem} in {out}");
    }
    let short = "[admin]\nlisten = \"127.0.0.1:1\"\n\
                 bootstrap_operator = { name = \"root\", password = \"short\" }\n";
    let (_, out) = validate(short);
    assert!(out.contains("password: at least 12 characters"), "{out}");
    assert!(
        !out.contains("\"short\""),
        "the password is not echoed: {out}"
    );
    let (_, out) = validate(
        "[admin]\nlisten = \"127.0.0.1:1\"\n\
         bootstrap_operator = { name = \"root\", password = \"long-enough-password\" }\n",
    );
    assert!(out.contains("users live in the store"), "{out}");
}
