//! Which admin API to talk to, and with which token: `--url` > `TOLLGATE_ADMIN_URL` >
//! `http://<[admin] listen>` of the configuration file (`https://` with `[admin] tls = true`);
//! `--token` > `TOLLGATE_ADMIN_TOKEN` > `[admin] token`; for `https`, the CAs to trust from
//! `--ca-file` > `TOLLGATE_ADMIN_CA_FILE` > the system's. Only the `[admin]` table is read from
//! the file (the main file, then its includes), with `${VAR}` expanded in its values: a full load would also want every
//! provider's secret in the environment and every upstream's name in DNS, which an operator's
//! shell need not have to reach the admin API.

use super::http::Url;
use super::CliError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

pub const URL_ENV: &str = "TOLLGATE_ADMIN_URL";
pub const TOKEN_ENV: &str = "TOLLGATE_ADMIN_TOKEN";
pub const CA_FILE_ENV: &str = "TOLLGATE_ADMIN_CA_FILE";

#[derive(Debug, PartialEq, Eq)]
pub struct AdminTarget {
    pub url: Url,
    pub token: String,
    /// The CAs an `https` admin listener's certificate must chain to (else the system's).
    pub ca_file: Option<PathBuf>,
}

/// The `[admin]` values of a configuration, `${VAR}` expanded.
#[derive(Debug, PartialEq, Eq)]
struct AdminTable {
    file: PathBuf,
    listen: String,
    token: String,
    tls: bool,
}

/// `env` looks a variable up (the process environment, or a table in tests); an empty value
/// counts as unset.
pub fn resolve(
    url: Option<&str>,
    token: Option<&str>,
    ca_file: Option<&Path>,
    config: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AdminTarget, CliError> {
    let from_env = |name| env(name).filter(|v: &String| !v.is_empty());
    let url = url.map(str::to_string).or_else(|| from_env(URL_ENV));
    let token = token.map(str::to_string).or_else(|| from_env(TOKEN_ENV));
    let file = match (&url, &token) {
        (Some(_), Some(_)) => None,
        _ => Some(read_admin(config)),
    };
    let url = match url {
        Some(text) => Url::parse(&text)?,
        None => match &file {
            Some(Ok(admin)) => url_of_listen(admin)?,
            _ => return Err(missing("URL", "--url", URL_ENV, &file)),
        },
    };
    let token = match token {
        Some(t) => t,
        None => match &file {
            Some(Ok(admin)) if !admin.token.is_empty() => admin.token.clone(),
            Some(Ok(admin)) => {
                return Err(CliError::AdminTarget(format!(
                    "no admin token: give --token or set {TOKEN_ENV} ([admin] token in {} is \
                     empty)",
                    admin.file.display()
                )))
            }
            _ => return Err(missing("token", "--token", TOKEN_ENV, &file)),
        },
    };
    let ca_file = match ca_file {
        Some(_) if !url.tls => {
            return Err(CliError::AdminTarget(format!(
                "--ca-file is for an https admin URL, and {url} is plain HTTP"
            )))
        }
        Some(path) => Some(path.to_path_buf()),
        None if url.tls => from_env(CA_FILE_ENV).map(PathBuf::from),
        // The variable may be set for every command; a plain URL just does not use it.
        None => None,
    };
    Ok(AdminTarget {
        url,
        token,
        ca_file,
    })
}

fn missing(
    what: &str,
    flag: &str,
    var: &str,
    file: &Option<Result<AdminTable, String>>,
) -> CliError {
    let why = match file {
        Some(Err(why)) => why.as_str(),
        _ => "the configuration was not read",
    };
    CliError::AdminTarget(format!(
        "no admin {what}: give {flag} or set {var}, or -c the gateway's configuration ({why})"
    ))
}

/// The address to reach a listener on: a wildcard listen address is reached on loopback.
fn url_of_listen(admin: &AdminTable) -> Result<Url, CliError> {
    let addr: SocketAddr = admin.listen.parse().map_err(|_| {
        CliError::AdminTarget(format!(
            "{}: [admin] listen = {:?} is not an IP:port address",
            admin.file.display(),
            admin.listen
        ))
    })?;
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(Url {
        tls: admin.tls,
        host: ip.to_string(),
        port: addr.port(),
        base: String::new(),
    })
}

/// The `[admin]` table of the main file, else of the first included file that has one.
fn read_admin(main: &Path) -> Result<AdminTable, String> {
    let table = read_toml(main)?;
    if let Some(admin) = table.get("admin") {
        return admin_values(main, admin);
    }
    let patterns = table
        .get("include")
        .and_then(toml::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let dir = main.parent().unwrap_or(Path::new("."));
    for pattern in patterns.iter().filter_map(toml::Value::as_str) {
        let Ok(paths) = glob::glob(&dir.join(pattern).to_string_lossy()) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
        paths.sort();
        for path in paths {
            if let Some(admin) = read_toml(&path)?.get("admin") {
                return admin_values(&path, admin);
            }
        }
    }
    Err(format!(
        "{} has no [admin] section, so that gateway serves no admin API",
        main.display()
    ))
}

fn read_toml(path: &Path) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.parse::<toml::Table>()
        .map_err(|e| format!("{}: not valid TOML: {}", path.display(), e.message()))
}

fn admin_values(file: &Path, admin: &toml::Value) -> Result<AdminTable, String> {
    let value = |key: &str| -> Result<Option<String>, String> {
        match admin.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => crate::config::load::expand_env(s)
                .map(Some)
                .map_err(|e| format!("{}: admin.{key}: {e}", file.display())),
            Some(_) => Err(format!("{}: admin.{key} is not a string", file.display())),
        }
    };
    let listen = value("listen")?
        .ok_or_else(|| format!("{}: [admin] has no listen address", file.display()))?;
    let tls = match admin.get("tls") {
        None => false,
        Some(toml::Value::Boolean(b)) => *b,
        Some(_) => {
            return Err(format!(
                "{}: admin.tls is not true or false",
                file.display()
            ))
        }
    };
    Ok(AdminTable {
        file: file.to_path_buf(),
        listen,
        token: value("token")?.unwrap_or_default(),
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn flags_win_over_the_environment_and_the_file() {
        let env = |n: &str| Some(format!("env-{n}"));
        let t = resolve(
            Some("http://10.0.0.1:1"),
            Some("flag"),
            None,
            Path::new("/nonexistent"),
            &env,
        )
        .unwrap();
        assert_eq!(t.url.to_string(), "http://10.0.0.1:1");
        assert_eq!(t.token, "flag");
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(
            dir.path(),
            "t.toml",
            "[admin]\nlisten = \"127.0.0.1:9\"\ntoken = \"file\"\n",
        );
        let env = |n: &str| match n {
            TOKEN_ENV => Some("env-token".to_string()),
            URL_ENV => Some(String::new()),
            _ => None,
        };
        let t = resolve(None, None, None, &cfg, &env).unwrap();
        assert_eq!(t.url.to_string(), "http://127.0.0.1:9");
        assert_eq!(t.token, "env-token");
    }

    #[test]
    fn the_file_gives_both_and_a_wildcard_listen_means_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(
            dir.path(),
            "t.toml",
            "[admin]\nlisten = \"0.0.0.0:9090\"\ntoken = \"${TOLLGATE_CLI_TEST_UNSET:-dflt}\"\n",
        );
        let t = resolve(None, None, None, &cfg, &no_env).unwrap();
        assert_eq!(t.url.to_string(), "http://127.0.0.1:9090");
        assert_eq!(t.token, "dflt");
        write(
            dir.path(),
            "t.toml",
            "[admin]\nlisten = \"[::]:9\"\ntoken = \"x\"\n",
        );
        let t = resolve(None, None, None, &cfg, &no_env).unwrap();
        assert_eq!(t.url.to_string(), "http://[::1]:9");
    }

    #[test]
    fn an_included_file_may_hold_the_admin_table() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        write(
            &dir.path().join("conf.d"),
            "admin.toml",
            "[admin]\nlisten = \"127.0.0.1:7\"\ntoken = \"inc\"\n",
        );
        let cfg = write(dir.path(), "main.toml", "include = [\"conf.d/*.toml\"]\n");
        let t = resolve(None, None, None, &cfg, &no_env).unwrap();
        assert_eq!((t.url.port, t.token.as_str()), (7, "inc"));
    }

    #[test]
    fn missing_pieces_say_what_to_give() {
        let dir = tempfile::tempdir().unwrap();
        let none = resolve(None, None, None, &dir.path().join("absent.toml"), &no_env)
            .unwrap_err()
            .to_string();
        assert!(
            none.contains("--url") && none.contains("cannot read"),
            "{none}"
        );

        let cfg = write(dir.path(), "t.toml", "[server]\n");
        let e = resolve(Some("http://x:1"), None, None, &cfg, &no_env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--token") && e.contains("no [admin] section"),
            "{e}"
        );

        write(dir.path(), "t.toml", "[admin]\nlisten = \"127.0.0.1:1\"\n");
        let e = resolve(None, None, None, &cfg, &no_env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("token") && e.contains("is empty"), "{e}");

        write(
            dir.path(),
            "t.toml",
            "[admin]\nlisten = \"localhost\"\ntoken = \"x\"\n",
        );
        let e = resolve(None, None, None, &cfg, &no_env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an IP:port"), "{e}");

        write(dir.path(), "t.toml", "[admin\n");
        let e = resolve(None, None, None, &cfg, &no_env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid TOML"), "{e}");
    }

    #[test]
    fn an_admin_listener_over_tls_is_reached_with_https_and_the_ca_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = write(
            dir.path(),
            "t.toml",
            "[admin]\nlisten = \"0.0.0.0:9443\"\ntoken = \"x\"\ntls = true\n",
        );
        let t = resolve(None, None, None, &cfg, &no_env).unwrap();
        assert_eq!(t.url.to_string(), "https://127.0.0.1:9443");
        assert_eq!(t.ca_file, None);
        let env = |n: &str| (n == CA_FILE_ENV).then(|| "/env/ca.pem".to_string());
        let t = resolve(None, None, None, &cfg, &env).unwrap();
        assert_eq!(t.ca_file.as_deref(), Some(Path::new("/env/ca.pem")));
        let flag = Some(Path::new("/flag/ca.pem"));
        let t = resolve(None, None, flag, &cfg, &env).unwrap();
        assert_eq!(t.ca_file.as_deref(), flag);

        // The variable is ignored for a plain URL; the flag is refused with one.
        write(
            dir.path(),
            "t.toml",
            "[admin]\nlisten = \"127.0.0.1:9\"\ntoken = \"x\"\n",
        );
        let t = resolve(None, None, None, &cfg, &env).unwrap();
        assert_eq!((t.url.tls, t.ca_file), (false, None));
        let e = resolve(None, None, flag, &cfg, &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--ca-file") && e.contains("plain HTTP"), "{e}");

        write(
            dir.path(),
            "t.toml",
            "[admin]\nlisten = \"127.0.0.1:9\"\ntls = \"yes\"\n",
        );
        let e = resolve(None, None, None, &cfg, &no_env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("admin.tls"), "{e}");
    }
}
