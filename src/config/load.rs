//! Reading configuration files: includes, `${VAR}` interpolation, schema errors, and mapping every
//! problem back to `file:line:col` and its key path.

use super::compile::{compile, Config};
use super::problem::{did_you_mean, key, render_path, Issue, Problem, Problems, Seg};
use super::schema::FileConfig;
use std::path::{Path, PathBuf};

/// One file as read, kept so that problems can be located in it.
struct Source {
    path: PathBuf,
    text: String,
    doc: Option<toml_edit::ImDocument<String>>,
}

impl Source {
    fn problem(&self, at: &[Seg], message: String) -> Problem {
        let offset = self.doc.as_ref().and_then(|d| locate(d, at)).unwrap_or(0);
        let (line, col) = line_col(&self.text, offset);
        Problem {
            file: self.path.clone(),
            line,
            col,
            path: render_path(at),
            message,
        }
    }
}

/// Where the merged `[[upstreams]]`, `[[routes]]`, `[[providers]]` and `[[models]]` entries
/// came from: (file, index in file).
#[derive(Default)]
struct Origins {
    server: Option<usize>,
    admin: Option<usize>,
    log: Option<usize>,
    llm: Option<usize>,
    store: Option<usize>,
    redis: Option<usize>,
    otel: Option<usize>,
    mcp: Option<usize>,
    tls: Option<usize>,
    upstreams: Vec<(usize, usize)>,
    routes: Vec<(usize, usize)>,
    providers: Vec<(usize, usize)>,
    models: Vec<(usize, usize)>,
    tenants: Vec<(usize, usize)>,
    limits: Vec<(usize, usize)>,
    plans: Vec<(usize, usize)>,
    prompts: Vec<(usize, usize)>,
    mcp_servers: Vec<(usize, usize)>,
}

impl Origins {
    fn list(&self, section: &str) -> Option<&[(usize, usize)]> {
        match section {
            "upstreams" => Some(&self.upstreams),
            "routes" => Some(&self.routes),
            "providers" => Some(&self.providers),
            "models" => Some(&self.models),
            "tenants" => Some(&self.tenants),
            "limits" => Some(&self.limits),
            "plans" => Some(&self.plans),
            "prompts" => Some(&self.prompts),
            "mcp_servers" => Some(&self.mcp_servers),
            _ => None,
        }
    }
}

/// Loads, merges and compiles a configuration, returning every problem found.
pub fn load(path: &Path) -> Result<Config, Problems> {
    let mut sources = Vec::new();
    let mut problems = Vec::new();
    let Some(main) = read_file(path, &mut sources, &mut problems) else {
        return Err(Problems(problems));
    };
    if sources[0]
        .doc
        .as_ref()
        .is_some_and(|d| d.as_table().is_empty())
    {
        // Saying so beats listing what an empty file lacks (and a reload must not take it).
        problems.push(
            sources[0].problem(
                &[],
                "the file is empty (or only comments): a configuration needs at least one \
             [[routes]] entry"
                    .into(),
            ),
        );
        return Err(Problems(problems));
    }
    let mut files = vec![(0usize, main)];
    for pattern_idx in 0..files[0].1.include.len() {
        let pattern = files[0].1.include[pattern_idx].clone();
        for included in expand_include(path, &pattern, pattern_idx, &sources[0], &mut problems) {
            let idx = sources.len();
            if let Some(f) = read_file(&included, &mut sources, &mut problems) {
                if !f.include.is_empty() {
                    problems.push(sources[idx].problem(
                        &[key("include")],
                        "an included file cannot include others".into(),
                    ));
                }
                files.push((idx, f));
            }
        }
    }
    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    let (mut merged, origins) = merge(files, &sources, &mut problems);
    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    resolve_paths(&mut merged, path.parent().unwrap_or(Path::new(".")));
    compile(&merged).map_err(|issues| {
        Problems(
            issues
                .into_iter()
                .map(|i| locate_issue(i, &origins, &sources))
                .collect(),
        )
    })
}

/// Makes the store file, OpenAPI documents, prompts' schema files and TLS files relative to the main file's directory, so the
/// gateway finds them whatever directory it was started from.
fn resolve_paths(merged: &mut FileConfig, dir: &Path) {
    let resolve = |p: &mut String| {
        if !Path::new(p.as_str()).is_absolute() {
            *p = dir.join(&*p).to_string_lossy().into_owned();
        }
    };
    if let Some(store) = merged.store.as_mut() {
        resolve(&mut store.path);
    }
    if let Some(calls) = merged.log.as_mut().and_then(|l| l.store.as_mut()) {
        resolve(&mut calls.path);
    }
    if let Some(ca) = merged.redis.as_mut().and_then(|r| r.ca_file.as_mut()) {
        resolve(ca);
    }
    for c in merged
        .tls
        .iter_mut()
        .flat_map(|t| t.certificates.iter_mut())
    {
        resolve(&mut c.cert);
        resolve(&mut c.key);
    }
    let listeners = merged.server.iter_mut().flat_map(|s| s.listen.iter_mut());
    for ca in listeners.filter_map(|l| match l {
        crate::config::schema::ListenEntry::Listener(l) => l.client_ca.as_mut(),
        crate::config::schema::ListenEntry::Addr(_) => None,
    }) {
        resolve(ca);
    }
    let routes = merged.routes.iter_mut().map(|r| &mut r.api);
    let prompts = merged.prompts.iter_mut().map(|p| &mut p.api);
    for doc in routes.chain(prompts).filter_map(|a| a.openapi.as_mut()) {
        if !doc.starts_with("http://") && !doc.starts_with("https://") {
            resolve(doc);
        }
    }
    for p in merged.prompts.iter_mut() {
        let files = [p.input_file.as_mut(), p.output_schema_file.as_mut()];
        files.into_iter().flatten().for_each(resolve);
    }
}

// Configuration is read by the CLI and the master, and by a worker's reload inside
// `spawn_blocking`: never on a thread that serves requests.
#[allow(clippy::disallowed_methods)]
fn read_file(
    path: &Path,
    sources: &mut Vec<Source>,
    problems: &mut Vec<Problem>,
) -> Option<FileConfig> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            problems.push(Problem {
                file: path.to_path_buf(),
                line: 0,
                col: 0,
                path: String::new(),
                message: format!("cannot read the file: {e}"),
            });
            return None;
        }
    };
    let doc = toml_edit::ImDocument::parse(text.clone());
    let mut src = Source {
        path: path.to_path_buf(),
        text,
        doc: None,
    };
    let parsed = match doc {
        Ok(d) => d,
        Err(e) => {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            let (line, col) = line_col(&src.text, offset);
            problems.push(Problem {
                file: src.path.clone(),
                line,
                col,
                path: String::new(),
                message: format!("TOML syntax error: {}", e.message()),
            });
            sources.push(src);
            return None;
        }
    };
    src.doc = Some(parsed);
    let value: toml::Value = match toml::from_str(&src.text) {
        Ok(v) => v,
        Err(e) => {
            problems.push(src.problem(&[], format!("TOML syntax error: {}", e.message())));
            sources.push(src);
            return None;
        }
    };
    let mut value = value;
    let written = super::schema::Written::read(&value);
    let before = problems.len();
    interpolate(&mut value, &mut Vec::new(), &src, problems);
    if problems.len() > before {
        sources.push(src);
        return None;
    }
    let result = serde_path_to_error::deserialize::<_, FileConfig>(value);
    let out = match result {
        Ok(mut f) => {
            f.written = written;
            Some(f)
        }
        Err(e) => {
            let at = error_path(e.path());
            let message = explain_schema_error(&e.inner().to_string());
            problems.push(src.problem(&at, message));
            None
        }
    };
    sources.push(src);
    out
}

fn expand_include(
    main: &Path,
    pattern: &str,
    idx: usize,
    src: &Source,
    problems: &mut Vec<Problem>,
) -> Vec<PathBuf> {
    let dir = main.parent().unwrap_or(Path::new("."));
    let full = dir.join(pattern);
    let at = [key("include"), Seg::Index(idx)];
    match glob::glob(&full.to_string_lossy()) {
        Ok(paths) => {
            let mut out: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
            out.sort();
            if out.is_empty() && !pattern.contains(['*', '?', '[']) {
                problems.push(src.problem(&at, format!("{} does not exist", full.display())));
            }
            out
        }
        Err(e) => {
            problems.push(src.problem(&at, format!("invalid include pattern: {e}")));
            Vec::new()
        }
    }
}

/// Replaces `${VAR}` and `${VAR:-default}` in every string value.
fn interpolate(v: &mut toml::Value, at: &mut Vec<Seg>, src: &Source, problems: &mut Vec<Problem>) {
    match v {
        toml::Value::String(s) if s.contains("${") => match expand_env(s) {
            Ok(new) => *s = new,
            Err(msg) => problems.push(src.problem(at, msg)),
        },
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                at.push(Seg::Index(i));
                interpolate(item, at, src, problems);
                at.pop();
            }
        }
        toml::Value::Table(t) => {
            for (k, item) in t.iter_mut() {
                at.push(key(k));
                interpolate(item, at, src, problems);
                at.pop();
            }
        }
        _ => {}
    }
}

pub fn expand_env(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed ${{ in {s:?}"))?;
        let expr = &after[..end];
        let (name, default) = match expr.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("{name:?} is not an environment variable name"));
        }
        match (std::env::var(name), default) {
            (Ok(v), _) => out.push_str(&v),
            (Err(_), Some(d)) => out.push_str(d),
            (Err(_), None) => {
                return Err(format!(
                    "environment variable {name} is not set (write ${{{name}:-default}} for a fallback)"
                ))
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

pub(super) fn error_path(path: &serde_path_to_error::Path) -> Vec<Seg> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|s| match s {
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Map { key: k } => Some(key(k)),
            Segment::Enum { variant } => Some(key(variant)),
            Segment::Unknown => None,
        })
        .collect()
}

/// Adds a "did you mean" to serde's unknown-field and unknown-variant messages.
pub(super) fn explain_schema_error(msg: &str) -> String {
    // toml appends "in `a.b`" after the message; the key path is reported separately.
    let msg = msg.split("\nin `").next().unwrap_or(msg).trim_end();
    let kind = if msg.starts_with("unknown field") {
        "unknown key"
    } else if msg.starts_with("unknown variant") {
        "unknown value"
    } else if msg.starts_with("data did not match any variant of untagged enum TargetSection") {
        return "a target is \"host:port\" or { addr = \"host:port\", weight = N }".into();
    } else {
        return msg.to_string();
    };
    let mut ticks = msg.split('`').skip(1).step_by(2);
    let Some(word) = ticks.next() else {
        return msg.to_string();
    };
    let expected: Vec<&str> = ticks.collect();
    let hint = did_you_mean(word, expected.iter().copied());
    format!(
        "{kind} {word:?}{hint}; expected one of: {}",
        expected.join(", ")
    )
}

fn merge(
    files: Vec<(usize, FileConfig)>,
    sources: &[Source],
    problems: &mut Vec<Problem>,
) -> (FileConfig, Origins) {
    let mut out = FileConfig::default();
    let mut origins = Origins::default();
    for (src, file) in files {
        let once = |name: &str, slot: &mut Option<usize>, problems: &mut Vec<Problem>| {
            if let Some(first) = *slot {
                problems.push(sources[src].problem(
                    &[key(name)],
                    format!(
                        "[{name}] is already defined in {}",
                        sources[first].path.display()
                    ),
                ));
            } else {
                *slot = Some(src);
            }
        };
        if let Some(s) = file.server {
            once("server", &mut origins.server, problems);
            out.server = Some(s);
        }
        if let Some(a) = file.admin {
            once("admin", &mut origins.admin, problems);
            out.admin = Some(a);
        }
        if let Some(l) = file.log {
            once("log", &mut origins.log, problems);
            out.log = Some(l);
        }
        if let Some(l) = file.llm {
            once("llm", &mut origins.llm, problems);
            out.llm = Some(l);
        }
        if let Some(l) = file.store {
            once("store", &mut origins.store, problems);
            out.store = Some(l);
        }
        if let Some(r) = file.redis {
            once("redis", &mut origins.redis, problems);
            out.redis = Some(r);
        }
        if let Some(o) = file.otel {
            once("otel", &mut origins.otel, problems);
            out.otel = Some(o);
        }
        if let Some(m) = file.mcp {
            once("mcp", &mut origins.mcp, problems);
            out.mcp = Some(m);
        }
        if let Some(t) = file.tls {
            once("tls", &mut origins.tls, problems);
            out.tls = Some(t);
        }
        let from = |n: usize| (0..n).map(move |i| (src, i));
        origins.upstreams.extend(from(file.upstreams.len()));
        origins.routes.extend(from(file.routes.len()));
        origins.providers.extend(from(file.providers.len()));
        origins.models.extend(from(file.models.len()));
        origins.tenants.extend(from(file.tenants.len()));
        out.tenants.extend(file.tenants);
        origins.limits.extend(from(file.limits.len()));
        out.limits.extend(file.limits);
        origins.plans.extend(from(file.plans.len()));
        out.plans.extend(file.plans);
        origins.prompts.extend(from(file.prompts.len()));
        out.prompts.extend(file.prompts);
        origins.mcp_servers.extend(from(file.mcp_servers.len()));
        out.mcp_servers.extend(file.mcp_servers);
        out.upstreams.extend(file.upstreams);
        out.routes.extend(file.routes);
        out.providers.extend(file.providers);
        out.models.extend(file.models);
        out.written.extend(file.written);
    }
    (out, origins)
}

/// Maps an issue on the merged configuration back to the file and index it came from.
fn locate_issue(issue: Issue, origins: &Origins, sources: &[Source]) -> Problem {
    let mut at = issue.at.clone();
    let section = match at.first() {
        Some(Seg::Key(k)) => k.clone(),
        _ => String::new(),
    };
    let src = match (section.as_str(), at.get(1)) {
        (list, Some(Seg::Index(i))) if origins.list(list).is_some() => {
            let list = origins.list(list).unwrap_or_default();
            let (file, local) = list.get(*i).copied().unwrap_or((0, *i));
            let global = *i;
            at[1] = Seg::Index(local);
            let mut p = sources[file].problem(&at, issue.message);
            // The key path names the entry as users count it across all files.
            at[1] = Seg::Index(global);
            p.path = render_path(&at);
            return p;
        }
        ("server", _) => origins.server,
        ("admin", _) => origins.admin,
        ("log", _) => origins.log,
        ("llm", _) => origins.llm,
        ("store", _) => origins.store,
        ("redis", _) => origins.redis,
        ("otel", _) => origins.otel,
        ("mcp", _) => origins.mcp,
        ("tls", _) => origins.tls,
        _ => None,
    };
    sources[src.unwrap_or(0)].problem(&at, issue.message)
}

/// The byte offset of the deepest item of `at` that exists in the document.
fn locate(doc: &toml_edit::ImDocument<String>, at: &[Seg]) -> Option<usize> {
    let mut item: &toml_edit::Item = doc.as_item();
    let mut best = None;
    for seg in at {
        let (key_span, next) = match seg {
            Seg::Key(k) => match item.as_table_like().and_then(|t| t.get_key_value(k)) {
                Some((key, value)) => (key.span(), Some(value)),
                None => (None, None),
            },
            Seg::Index(i) => (None, item.get(*i)),
        };
        best = key_span.map(|s| s.start).or(best);
        let Some(next) = next else { break };
        best = next.span().map(|s| s.start).or(best);
        item = next;
    }
    best
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn problems(text: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "t.toml", text);
        match load(&p) {
            Ok(_) => vec![],
            Err(Problems(ps)) => ps
                .into_iter()
                .map(|p| format!("{}:{}: {}: {}", p.line, p.col, p.path, p.message))
                .collect(),
        }
    }

    const GOOD: &str = r#"
[server]
listen = ["127.0.0.1:0"]

[[upstreams]]
name = "orders"
targets = ["127.0.0.1:1"]

[[routes]]
name = "r"
path_prefix = "/o"
upstream = "orders"
"#;

    #[test]
    fn a_good_file_loads() {
        assert!(problems(GOOD).is_empty(), "{:?}", problems(GOOD));
    }

    #[test]
    fn an_empty_file_is_refused() {
        for text in ["", "\n  \n", "# only a comment\n"] {
            let p = problems(text);
            assert_eq!(p.len(), 1, "{text:?}: {p:?}");
            assert!(p[0].starts_with("1:1: : the file is empty"), "{p:?}");
        }
    }

    #[test]
    fn a_file_without_routes_is_refused() {
        let text = &GOOD[..GOOD.find("[[routes]]").unwrap()];
        let p = problems(text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with("1:1: routes: no [[routes]]"), "{p:?}");
    }

    #[test]
    fn unknown_reference_suggests_a_name() {
        let p = problems(&GOOD.replace("upstream = \"orders\"", "upstream = \"ordres\""));
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with(
                "12:12: routes[0].upstream: no upstream named \"ordres\" (did you mean \"orders\"?)"
            ),
            "{p:?}"
        );
    }

    #[test]
    fn unknown_key_suggests_a_key() {
        let p = problems(&GOOD.replace("listen =", "lisen ="));
        assert_eq!(p.len(), 1);
        assert!(
            p[0].contains("unknown key \"lisen\" (did you mean \"listen\"?)"),
            "{p:?}"
        );
        assert!(p[0].starts_with("3:9: server.lisen"), "{p:?}");
    }

    #[test]
    fn env_interpolation_and_defaults() {
        std::env::set_var("TOLLGATE_TEST_SET", "abc");
        assert_eq!(expand_env("x${TOLLGATE_TEST_SET}y").unwrap(), "xabcy");
        assert_eq!(expand_env("${TOLLGATE_TEST_UNSET_1:-d}").unwrap(), "d");
        assert!(expand_env("${TOLLGATE_TEST_UNSET_2}")
            .unwrap_err()
            .contains("TOLLGATE_TEST_UNSET_2"));
    }

    #[test]
    fn several_semantic_problems_are_all_reported() {
        let text = GOOD
            .replace("upstream = \"orders\"", "upstream = \"nope\"")
            .replace("127.0.0.1:1", "nowhere");
        assert_eq!(problems(&text).len(), 2, "{:?}", problems(&text));
    }

    #[test]
    fn includes_merge_and_locate_in_their_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        let main = write(
            dir.path(),
            "main.toml",
            &format!("include = [\"conf.d/*.toml\"]\n{GOOD}"),
        );
        write(
            &dir.path().join("conf.d"),
            "a.toml",
            "[[routes]]\nname = \"b\"\npath = \"/b\"\nupstream = \"missing\"\n",
        );
        let Err(Problems(ps)) = load(&main) else {
            panic!("expected problems")
        };
        assert_eq!(ps.len(), 1);
        assert!(ps[0].file.ends_with("conf.d/a.toml"));
        assert_eq!((ps[0].line, ps[0].path.as_str()), (4, "routes[1].upstream"));
    }

    /// The configuration reads its durations with the bound of `base::time`, the key path named.
    #[test]
    fn a_config_duration_past_100_years_is_a_located_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        let text = "[server]\nlisten = [\"127.0.0.1:0\"]\ngrace_period = \"8000y\"\n\n\
                    [[upstreams]]\nname = \"u\"\ntargets = [\"127.0.0.1:1\"]\n\n\
                    [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n";
        std::fs::write(&path, text).unwrap();
        let problems = crate::config::load(&path).unwrap_err().to_string();
        assert!(
            problems.contains("server.grace_period") && problems.contains("100 years"),
            "{problems}"
        );
    }
}
