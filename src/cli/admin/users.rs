//! `tollgate admin users ...`, `me` and `tokens ...`: users of the admin API, the caller's own
//! account and personal tokens. A password is read like a provider key (standard input, or
//! the variable `--password-env` names), never from the command line. A personal token made
//! here is what the CLI then uses as `--token` or `TOLLGATE_ADMIN_TOKEN`, so the audit log
//! names its user.

use super::request::{query, seg, ApiCall};
use crate::cli::secret::SecretSource;
use crate::cli::CliError;
use clap::{ArgGroup, Subcommand};
use serde_json::{json, Map, Value};

const ROLES: [&str; 3] = ["operator", "tenant_admin", "tenant_developer"];

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Users; with --tenant, that tenant's members.
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    Show {
        name: String,
    },
    /// Make a user; the password is read from standard input or --password-env.
    Create {
        name: String,
        #[arg(long, value_parser = ROLES)]
        role: String,
        /// The tenant of a tenant admin or developer.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Read the password from this environment variable instead of standard input.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
    },
    #[command(group(ArgGroup::new("change").required(true).multiple(true)
        .args(["role", "tenant", "email", "disable", "enable", "password", "password_env"])))]
    Update {
        name: String,
        #[arg(long, value_parser = ROLES)]
        role: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Refuse the user's sign-ins and end their sessions.
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        #[arg(long)]
        enable: bool,
        /// Set a new password, read from standard input.
        #[arg(long, conflicts_with = "password_env")]
        password: bool,
        /// Set a new password, read from this environment variable.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
    },
    /// Delete a user with their sessions and tokens.
    Delete {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Your personal tokens (never their secrets).
    List,
    /// Make a personal token; it is printed once.
    Create {
        /// What the token is for, e.g. the machine that holds it.
        #[arg(long)]
        name: Option<String>,
        /// Valid for this long, e.g. 90d [default: no expiry].
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
    },
    Revoke {
        id: String,
    },
}

type Secret<'a> = &'a mut dyn FnMut(&SecretSource) -> Result<String, CliError>;

fn password(env: &Option<String>, secret: Secret<'_>) -> Result<String, CliError> {
    let source = match env {
        Some(var) => SecretSource::Env(var.clone()),
        None => SecretSource::Stdin {
            prompt: "Password".into(),
        },
    };
    secret(&source)
}

pub fn users(c: &UsersCommand, secret: Secret<'_>) -> Result<ApiCall, CliError> {
    let one = |name: &str| format!("/admin/users/{}", seg(name));
    Ok(match c {
        UsersCommand::List { tenant } => ApiCall::get(format!(
            "/admin/users{}",
            query(&[("tenant", tenant.clone())])
        )),
        UsersCommand::Show { name } => ApiCall::get(one(name)),
        UsersCommand::Create {
            name,
            role,
            tenant,
            email,
            password_env,
        } => {
            let mut body = json!({"name": name, "role": role});
            if let Some(t) = tenant {
                body["tenant"] = t.clone().into();
            }
            if let Some(e) = email {
                body["email"] = e.clone().into();
            }
            body["password"] = password(password_env, secret)?.into();
            ApiCall::with("POST", "/admin/users".into(), body)
        }
        UsersCommand::Update {
            name,
            role,
            tenant,
            email,
            disable,
            enable,
            password: new_password,
            password_env,
        } => {
            let mut body = Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    body.insert(k.into(), v);
                }
            };
            put("role", role.clone().map(Value::from));
            put("tenant", tenant.clone().map(Value::from));
            put("email", email.clone().map(Value::from));
            put(
                "disabled",
                (*disable || *enable).then_some(Value::Bool(*disable)),
            );
            if *new_password || password_env.is_some() {
                put("password", Some(password(password_env, secret)?.into()));
            }
            ApiCall::with("PATCH", one(name), Value::Object(body))
        }
        UsersCommand::Delete { name } => ApiCall::delete(one(name), format!("user {name} deleted")),
    })
}

pub fn tokens(c: &TokensCommand) -> ApiCall {
    match c {
        TokensCommand::List => ApiCall::get("/admin/me/tokens".into()),
        TokensCommand::Create { name, expires_in } => {
            let mut body = json!({});
            if let Some(n) = name {
                body["name"] = n.clone().into();
            }
            if let Some(e) = expires_in {
                body["expires_in"] = e.clone().into();
            }
            ApiCall::with("POST", "/admin/me/tokens".into(), body)
                .note("the token is shown once: use it as --token or TOLLGATE_ADMIN_TOKEN")
        }
        TokensCommand::Revoke { id } => ApiCall::delete(
            format!("/admin/me/tokens/{}", seg(id)),
            format!("token {id} revoked"),
        ),
    }
}
