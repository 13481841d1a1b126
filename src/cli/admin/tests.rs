use super::*;
use crate::cli::http::Url;
use crate::cli::secret::SecretSource;
use crate::cli::test_server::{json_answer, serve};
use clap::Parser;
use serde_json::json;
use std::collections::BTreeSet;

#[derive(Parser)]
#[command(name = "tollgate")]
struct TestCli {
    #[command(subcommand)]
    command: Top,
}

#[derive(clap::Subcommand)]
enum Top {
    Admin(AdminArgs),
}

fn parse(args: &[&str]) -> Result<AdminArgs, clap::Error> {
    let argv = ["tollgate", "admin"].iter().chain(args);
    TestCli::try_parse_from(argv).map(|c| match c.command {
        Top::Admin(a) => a,
    })
}

/// The request of a command line; a key asked for is "sk-test".
fn request(args: &[&str]) -> ApiCall {
    let parsed = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    call(&parsed.command, &mut |_| Ok("sk-test".to_string()))
        .unwrap()
        .unwrap_or_else(|| panic!("{args:?} sends nothing"))
}

type Case = (
    &'static [&'static str],
    &'static str,
    &'static str,
    Option<Value>,
);

/// The example definition `tollgate admin prompts create` is shown with.
const PROMPT_FILE: &str = "conf/prompts/summarize.json";

fn prompt_file() -> Value {
    serde_json::from_str(include_str!("../../../conf/prompts/summarize.json")).unwrap()
}

/// The five commands of one section of `tollgate admin upstreams|routes|providers|models`.
macro_rules! live_cases {
    ($s:literal) => {
        [
            (&[$s, "list"][..], "GET", concat!("/admin/", $s), None),
            (
                &[$s, "show", "orders"][..],
                "GET",
                concat!("/admin/", $s, "/orders"),
                None,
            ),
            (
                &[$s, "create", "orders", "--file", PROMPT_FILE][..],
                "POST",
                concat!("/admin/", $s),
                Some(named_orders()),
            ),
            (
                &[$s, "put", "orders", "--file", PROMPT_FILE][..],
                "PUT",
                concat!("/admin/", $s, "/orders"),
                Some(prompt_file()),
            ),
            (
                &[$s, "delete", "orders"][..],
                "DELETE",
                concat!("/admin/", $s, "/orders"),
                None,
            ),
        ]
    };
}

/// The prompt file with `name = "orders"`: any table does for the mapping to requests.
fn named_orders() -> Value {
    let mut v = prompt_file();
    v["name"] = json!("orders");
    v
}

fn cases() -> Vec<Case> {
    let mut named = prompt_file();
    named["name"] = json!("summarize");
    let listed: Vec<Case> = vec![
        (
            &["users", "list", "--tenant", "acme"],
            "GET",
            "/admin/users?tenant=acme",
            None,
        ),
        (&["users", "show", "ann"], "GET", "/admin/users/ann", None),
        (
            &[
                "users",
                "create",
                "ann",
                "--role",
                "tenant_admin",
                "--tenant",
                "acme",
            ],
            "POST",
            "/admin/users",
            // The password comes from the secret reader, never the command line.
            Some(
                json!({"name": "ann", "role": "tenant_admin", "tenant": "acme",
                        "password": "sk-test"}),
            ),
        ),
        (
            &["users", "update", "ann", "--disable", "--password"],
            "PATCH",
            "/admin/users/ann",
            Some(json!({"disabled": true, "password": "sk-test"})),
        ),
        (
            &["users", "delete", "ann"],
            "DELETE",
            "/admin/users/ann",
            None,
        ),
        (&["me"], "GET", "/admin/me", None),
        (&["tokens", "list"], "GET", "/admin/me/tokens", None),
        (
            &[
                "tokens",
                "create",
                "--name",
                "laptop",
                "--expires-in",
                "90d",
            ],
            "POST",
            "/admin/me/tokens",
            Some(json!({"name": "laptop", "expires_in": "90d"})),
        ),
        (
            &["tokens", "revoke", "abcdefghijkl"],
            "DELETE",
            "/admin/me/tokens/abcdefghijkl",
            None,
        ),
        (&["prompts", "list"], "GET", "/admin/prompts", None),
        (
            &["prompts", "show", "summarize", "--version", "2"],
            "GET",
            "/admin/prompts/summarize?version=2",
            None,
        ),
        (
            &["prompts", "create", "summarize", "--file", PROMPT_FILE],
            "POST",
            "/admin/prompts",
            Some(named),
        ),
        (
            &["prompts", "update", "summarize", "--file", PROMPT_FILE],
            "PUT",
            "/admin/prompts/summarize",
            Some(prompt_file()),
        ),
        (
            &["prompts", "delete", "summarize"],
            "DELETE",
            "/admin/prompts/summarize",
            None,
        ),
        (&["tenants", "list"], "GET", "/admin/tenants", None),
        (
            &["tenants", "show", "acme"],
            "GET",
            "/admin/tenants/acme",
            None,
        ),
        (
            &["tenants", "create", "acme"],
            "POST",
            "/admin/tenants",
            Some(json!({"name": "acme"})),
        ),
        (
            &["tenants", "create", "acme", "--description", "Acme Inc"],
            "POST",
            "/admin/tenants",
            Some(json!({"name": "acme", "description": "Acme Inc"})),
        ),
        (
            &["tenants", "update", "acme", "--description", "new"],
            "PATCH",
            "/admin/tenants/acme",
            Some(json!({"description": "new"})),
        ),
        (
            &["tenants", "delete", "acme"],
            "DELETE",
            "/admin/tenants/acme",
            None,
        ),
        (
            &["credentials", "list", "acme"],
            "GET",
            "/admin/tenants/acme/credentials",
            None,
        ),
        (
            &["credentials", "set", "acme", "openai"],
            "PUT",
            "/admin/tenants/acme/credentials/openai",
            Some(json!({"api_key": "sk-test"})),
        ),
        (
            &["credentials", "delete", "acme", "openai"],
            "DELETE",
            "/admin/tenants/acme/credentials/openai",
            None,
        ),
        (
            &["apps", "list", "acme"],
            "GET",
            "/admin/tenants/acme/apps",
            None,
        ),
        (
            &["apps", "show", "acme", "web"],
            "GET",
            "/admin/tenants/acme/apps/web",
            None,
        ),
        (
            &["apps", "create", "acme", "web", "--models", "gpt-4o,demo,"],
            "POST",
            "/admin/tenants/acme/apps",
            Some(json!({"name": "web", "models": ["gpt-4o", "demo"]})),
        ),
        (
            &["apps", "create", "acme", "web", "--description", "d"],
            "POST",
            "/admin/tenants/acme/apps",
            Some(json!({"name": "web", "description": "d"})),
        ),
        (
            &["apps", "update", "acme", "web", "--models", "demo"],
            "PATCH",
            "/admin/tenants/acme/apps/web",
            Some(json!({"models": ["demo"]})),
        ),
        (
            &[
                "apps",
                "update",
                "acme",
                "web",
                "--all-models",
                "--description",
                "d",
            ],
            "PATCH",
            "/admin/tenants/acme/apps/web",
            Some(json!({"models": null, "description": "d"})),
        ),
        (
            &["apps", "delete", "acme", "web"],
            "DELETE",
            "/admin/tenants/acme/apps/web",
            None,
        ),
        (
            &["keys", "list", "acme", "web"],
            "GET",
            "/admin/tenants/acme/apps/web/keys",
            None,
        ),
        (
            &["keys", "create", "acme", "web"],
            "POST",
            "/admin/tenants/acme/apps/web/keys",
            Some(json!({})),
        ),
        (
            &[
                "keys",
                "create",
                "acme",
                "web",
                "--name",
                "ci",
                "--expires-in",
                "30d",
            ],
            "POST",
            "/admin/tenants/acme/apps/web/keys",
            Some(json!({"name": "ci", "expires_in": "30d"})),
        ),
        (
            &[
                "keys",
                "create",
                "acme",
                "web",
                "--expires-at",
                "2027-01-01",
            ],
            "POST",
            "/admin/tenants/acme/apps/web/keys",
            Some(json!({"expires_at": "2027-01-01"})),
        ),
        (
            &["keys", "show", "abcdefghijkl"],
            "GET",
            "/admin/keys/abcdefghijkl",
            None,
        ),
        (
            &["keys", "revoke", "abcdefghijkl"],
            "DELETE",
            "/admin/keys/abcdefghijkl",
            None,
        ),
        (
            &["keys", "rotate", "abcdefghijkl"],
            "POST",
            "/admin/keys/abcdefghijkl/rotate",
            Some(json!({})),
        ),
        (
            &["keys", "rotate", "abcdefghijkl", "--overlap", "1h"],
            "POST",
            "/admin/keys/abcdefghijkl/rotate",
            Some(json!({"overlap": "1h"})),
        ),
        (
            &["subscriptions", "list"],
            "GET",
            "/admin/subscriptions",
            None,
        ),
        (
            &[
                "subscriptions",
                "list",
                "--state",
                "pending",
                "--tenant",
                "acme",
            ],
            "GET",
            "/admin/subscriptions?state=pending&tenant=acme",
            None,
        ),
        (
            &[
                "subscriptions",
                "list",
                "--app",
                "web",
                "--api",
                "orders-v1",
            ],
            "GET",
            "/admin/subscriptions?app=web&api=orders-v1",
            None,
        ),
        (
            &["subscriptions", "show", "7"],
            "GET",
            "/admin/subscriptions/7",
            None,
        ),
        (
            &["subscriptions", "request", "acme", "web", "orders-v1"],
            "POST",
            "/admin/tenants/acme/apps/web/subscriptions",
            Some(json!({"api": "orders-v1"})),
        ),
        (
            &["subscriptions", "approve", "7"],
            "POST",
            "/admin/subscriptions/7/approve",
            Some(json!({})),
        ),
        (
            &["subscriptions", "reject", "7", "--reason", "not yet"],
            "POST",
            "/admin/subscriptions/7/reject",
            Some(json!({"reason": "not yet"})),
        ),
        (
            &["subscriptions", "revoke", "7"],
            "POST",
            "/admin/subscriptions/7/revoke",
            Some(json!({})),
        ),
        (&["apis", "list"], "GET", "/admin/apis", None),
        (
            &["apis", "show", "orders-v1"],
            "GET",
            "/admin/apis/orders-v1",
            None,
        ),
        (
            &["apis", "set-state", "orders-v1", "deprecated"],
            "PUT",
            "/admin/apis/orders-v1/state",
            Some(json!({"state": "deprecated"})),
        ),
        (
            &[
                "apis",
                "set-state",
                "orders-v1",
                "deprecated",
                "--successor",
                "orders-v2",
                "--sunset",
                "2027-06-30",
            ],
            "PUT",
            "/admin/apis/orders-v1/state",
            Some(json!({"state": "deprecated", "successor": "orders-v2", "sunset": "2027-06-30"})),
        ),
        (
            &["apis", "clear-state", "orders-v1"],
            "DELETE",
            "/admin/apis/orders-v1/state",
            None,
        ),
        (&["catalog"], "GET", "/admin/catalog", None),
        (
            &["catalog", "--tenant", "acme"],
            "GET",
            "/admin/catalog?tenant=acme",
            None,
        ),
        (&["audit"], "GET", "/admin/audit", None),
        (
            &["audit", "--limit", "5", "--action", "key.create"],
            "GET",
            "/admin/audit?limit=5&action=key.create",
            None,
        ),
        (&["openapi"], "GET", "/admin/openapi.json", None),
        (&["calls", "list"], "GET", "/admin/calls", None),
        (
            &[
                "calls", "list", "--model", "gpt-4o", "--status", "5xx", "--limit", "10",
            ],
            "GET",
            "/admin/calls?model=gpt-4o&status=5xx&limit=10",
            None,
        ),
        (
            &["calls", "list", "--tenant", "acme", "--cursor", "17.3"],
            "GET",
            "/admin/tenants/acme/calls?cursor=17.3",
            None,
        ),
        (&["calls", "show", "a/b"], "GET", "/admin/calls/a%2Fb", None),
        (
            &["calls", "show", "r1", "--tenant", "acme"],
            "GET",
            "/admin/tenants/acme/calls/r1",
            None,
        ),
        (
            &["usage", "--group-by", "tenant", "--bucket", "day"],
            "GET",
            "/admin/usage?group_by=tenant&bucket=day",
            None,
        ),
        (
            &["usage", "--tenant", "acme"],
            "GET",
            "/admin/tenants/acme/usage",
            None,
        ),
        (
            &["tenants", "set-plan", "acme", "pro"],
            "PUT",
            "/admin/tenants/acme/plan",
            Some(json!({"plan": "pro"})),
        ),
        (
            &["tenants", "clear-plan", "acme"],
            "DELETE",
            "/admin/tenants/acme/plan",
            None,
        ),
        (&["limits", "list"], "GET", "/admin/limits", None),
        (
            &["limits", "top", "-n", "5"],
            "GET",
            "/admin/limits/top?n=5",
            None,
        ),
        (
            &["limits", "bucket", "per-ip", "--client-ip", "::1"],
            "GET",
            "/admin/limits/per-ip/bucket?client_ip=%3A%3A1",
            None,
        ),
        (
            &["limits", "reset", "rpm", "--tenant", "acme", "--app", "web"],
            "DELETE",
            "/admin/limits/rpm/bucket?tenant=acme&app=web",
            None,
        ),
        (
            &["limits", "attach", "acme", "rpm", "--rate", "10"],
            "PUT",
            "/admin/tenants/acme/limits/rpm",
            Some(json!({"rate": 10.0})),
        ),
        (
            &["limits", "attach", "acme", "rpm", "--app", "web"],
            "PUT",
            "/admin/tenants/acme/apps/web/limits/rpm",
            Some(json!({})),
        ),
        (
            &["limits", "detach", "acme", "rpm"],
            "DELETE",
            "/admin/tenants/acme/limits/rpm",
            None,
        ),
        (
            &["limits", "detach", "acme", "rpm", "--app", "web"],
            "DELETE",
            "/admin/tenants/acme/apps/web/limits/rpm",
            None,
        ),
    ];
    listed
        .into_iter()
        .chain(live_cases!("upstreams"))
        .chain(live_cases!("routes"))
        .chain(live_cases!("providers"))
        .chain(live_cases!("models"))
        .collect()
}

#[test]
fn each_command_is_its_request() {
    for (args, method, path, body) in cases() {
        let c = request(args);
        assert_eq!(
            (c.method, c.path.as_str(), c.body),
            (method, path, body),
            "{args:?}"
        );
    }
}

/// The OpenAPI document's operations as (method, path template, operationId).
fn documented() -> Vec<(String, String, String)> {
    let doc: Value = serde_json::from_str(include_str!("../../admin/openapi.json")).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(id) = op["operationId"].as_str() {
                out.push((method.to_uppercase(), path.clone(), id.to_string()));
            }
        }
    }
    out
}

fn matches_template(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap();
    let (t, p): (Vec<_>, Vec<_>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && !p.is_empty()))
}

#[test]
fn every_request_is_a_documented_operation_and_every_operation_has_a_command() {
    let ops = documented();
    let mut used = BTreeSet::new();
    for (args, _, _, _) in cases() {
        let c = request(args);
        let op = ops
            .iter()
            .find(|(m, t, _)| m == c.method && matches_template(t, &c.path))
            .unwrap_or_else(|| panic!("{args:?}: {} {} is not in openapi.json", c.method, c.path));
        used.insert(op.2.clone());
        if c.body.is_some() {
            assert_ne!(c.method, "GET", "{args:?}");
        }
    }
    // An app's subscriptions are listed with `subscriptions list --tenant T --app A`; the
    // CLI uses tokens, not sessions (signing in and out is the console's); the playground is
    // the console's too (from a shell, call the data plane with the key itself).
    let not_needed = ["listAppSubscriptions", "login", "logout", "playground"];
    let unused: Vec<_> = ops
        .iter()
        .filter(|(_, _, id)| !used.contains(id) && !not_needed.contains(&id.as_str()))
        .collect();
    assert!(unused.is_empty(), "no command for {unused:?}");
}

#[test]
fn names_cannot_change_the_path_or_the_query() {
    let c = request(&["tenants", "show", "a/../b c"]);
    assert_eq!(c.path, "/admin/tenants/a%2F..%2Fb%20c");
    let c = request(&["catalog", "--tenant", "x&limit=1"]);
    assert_eq!(c.path, "/admin/catalog?tenant=x%26limit%3D1");
}

#[test]
fn a_provider_key_comes_from_stdin_or_a_variable_never_the_command_line() {
    let mut asked = Vec::new();
    let mut secret = |s: &SecretSource| {
        asked.push(format!("{s:?}"));
        Ok("sk-x".to_string())
    };
    let a = parse(&["credentials", "set", "acme", "openai"]).unwrap();
    call(&a.command, &mut secret).unwrap();
    let b = parse(&[
        "credentials",
        "set",
        "acme",
        "openai",
        "--key-env",
        "ACME_KEY",
    ])
    .unwrap();
    call(&b.command, &mut secret).unwrap();
    assert!(asked[0].starts_with("Stdin"), "{asked:?}");
    assert!(asked[0].contains("openai") && asked[0].contains("acme"));
    assert_eq!(
        asked[1],
        format!("{:?}", SecretSource::Env("ACME_KEY".into()))
    );
    for argv in [
        &["credentials", "set", "acme", "openai", "sk-live-123"][..],
        &[
            "credentials",
            "set",
            "acme",
            "openai",
            "--key",
            "sk-live-123",
        ],
        &[
            "credentials",
            "set",
            "acme",
            "openai",
            "--api-key",
            "sk-live-123",
        ],
    ] {
        assert!(parse(argv).is_err(), "{argv:?}");
    }
    // A failed read sends nothing.
    let mut fail = |_: &SecretSource| Err(CliError::Input("no key".into()));
    assert!(call(&a.command, &mut fail).is_err());
}

#[test]
fn contradictory_or_empty_commands_are_refused_before_sending() {
    for argv in [
        &[
            "keys",
            "create",
            "acme",
            "web",
            "--expires-in",
            "1d",
            "--expires-at",
            "2027-01-01",
        ][..],
        &["apps", "update", "acme", "web"],
        &[
            "apps",
            "update",
            "acme",
            "web",
            "--models",
            "a",
            "--all-models",
        ],
        &["apis", "set-state", "orders-v1", "gone"],
        &["subscriptions", "list", "--state", "maybe"],
        &["subscriptions", "approve", "seven"],
        &["tenants", "update", "acme"],
        &["tenants"],
        &["frobnicate"],
    ] {
        assert!(parse(argv).is_err(), "{argv:?}");
    }
}

#[test]
fn global_options_go_before_or_after_the_command() {
    let a = parse(&[
        "--url",
        "http://h:1",
        "tenants",
        "list",
        "--token",
        "t",
        "-c",
        "x.toml",
    ])
    .unwrap();
    assert_eq!(a.url.as_deref(), Some("http://h:1"));
    assert_eq!(a.token.as_deref(), Some("t"));
    assert_eq!(a.config, PathBuf::from("x.toml"));
    assert_eq!(a.timeout, Duration::from_secs(10));
    let b = parse(&["tenants", "list", "--timeout", "250ms", "--actor", "ann"]).unwrap();
    assert_eq!(b.timeout, Duration::from_millis(250));
    assert_eq!(b.actor.as_deref(), Some("ann"));
    assert_eq!(b.config, PathBuf::from("conf/tollgate.toml"));
}

#[test]
fn keygen_is_offline() {
    let a = parse(&["keygen", "--name", "ci"]).unwrap();
    assert!(call(&a.command, &mut |_| unreachable!()).unwrap().is_none());
}

fn target(url: Url) -> AdminTarget {
    AdminTarget {
        url,
        token: "s3cret".into(),
        ca_file: None,
    }
}

#[test]
fn an_answer_is_printed_pretty_with_the_token_and_actor_sent() {
    let (url, rx) = serve(vec![json_answer(201, r#"{"name":"acme","apps":[]}"#)]);
    let c = request(&["tenants", "create", "acme"]);
    let out = send(&target(url), Some("ann"), &c, Duration::from_secs(5)).unwrap();
    assert_eq!(
        out.as_deref(),
        Some("{\n  \"name\": \"acme\",\n  \"apps\": []\n}\n")
    );
    let req = rx.recv().unwrap();
    assert!(req.starts_with("POST /admin/tenants HTTP/1.1\r\n"), "{req}");
    assert!(req.contains("Authorization: Bearer s3cret\r\n"), "{req}");
    assert!(req.contains("X-Tollgate-Actor: ann\r\n"), "{req}");
    assert!(req.ends_with("\r\n\r\n{\"name\":\"acme\"}"), "{req}");
}

#[test]
fn no_content_prints_nothing() {
    let (url, _rx) = serve::<&[u8]>(vec![b"HTTP/1.1 204 No Content\r\n\r\n"]);
    let c = request(&["tenants", "delete", "acme"]);
    assert_eq!(
        send(&target(url), None, &c, Duration::from_secs(5)).unwrap(),
        None
    );
    assert!(c.note.unwrap().contains("deleted tenant \"acme\""));
}

#[test]
fn an_error_answer_gives_the_servers_message() {
    let (url, _rx) = serve(vec![json_answer(
        401,
        r#"{"error":{"message":"wrong admin token","type":"admin_error","code":401}}"#,
    )]);
    let c = request(&["tenants", "list"]);
    let e = send(&target(url), None, &c, Duration::from_secs(5)).unwrap_err();
    assert!(
        matches!(&e, CliError::Refused { status: 401, message } if message == "wrong admin token"),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "wrong admin token (HTTP 401)");

    let (url, _rx) = serve::<&[u8]>(vec![
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 11\r\n\r\nbad gateway",
    ]);
    let e = send(&target(url), None, &c, Duration::from_secs(5)).unwrap_err();
    assert_eq!(e.to_string(), "bad gateway (HTTP 502)");
}

#[test]
fn a_token_that_cannot_be_a_header_is_not_sent() {
    let url = Url::parse("http://127.0.0.1:9").unwrap();
    let t = AdminTarget {
        url,
        token: "a\r\nX-Evil: 1".into(),
        ca_file: None,
    };
    let e = send(
        &t,
        None,
        &request(&["tenants", "list"]),
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(matches!(e, CliError::AdminTarget(_)), "{e:?}");
}

#[test]
fn the_actor_is_the_flag_the_variable_or_the_login_name() {
    let env = |n: &str| match n {
        ACTOR_ENV => Some("from-env".to_string()),
        "USER" => Some("login".to_string()),
        _ => None,
    };
    let login_only = |n: &str| (n == "USER").then(|| "login".to_string());
    let nothing = |_: &str| None;
    assert_eq!(actor(Some("ann"), &env).unwrap().as_deref(), Some("ann"));
    assert_eq!(actor(None, &env).unwrap().as_deref(), Some("from-env"));
    assert_eq!(actor(None, &login_only).unwrap().as_deref(), Some("login"));
    assert_eq!(actor(None, &nothing).unwrap(), None);
    assert!(actor(Some("a\nb"), &nothing).is_err());
}
