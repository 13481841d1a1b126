//! The web console's files, built into the binary and served by the admin process under
//! `/console/` (`/` and `/console` lead there). They are static: what a user sees comes from the
//! `/admin/...` API, called by the page with the user's session cookie, so serving the files
//! needs no sign-in and the API's authorization stays the only one.
//!
//! The files are plain HTML, CSS and JavaScript modules written by hand in `console/` (no build
//! step, no Node.js, no CDN); `ASSETS` lists them, and a test makes sure it lists every file.
//! While working on them, `TOLLGATE_CONSOLE_DIR=console` serves the listed files from disk.
//! The security headers forbid any script, style or frame that is not the console's own, so a
//! value that slips into the page as markup still cannot run.

use http::Response;

/// One file: its path under `/console/`, its type and its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! assets {
    ($($path:literal => $type:expr),* $(,)?) => {
        &[$(Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("../../console/", $path)),
        }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = assets! {
    "index.html" => "text/html; charset=utf-8",
    "console.css" => "text/css; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
    "js/app.js" => JS,
    "js/core.js" => JS,
    "js/ui.js" => JS,
    "js/pages/signin.js" => JS,
    "js/pages/home.js" => JS,
    "js/portal.js" => JS,
    "js/openapi.js" => JS,
    "js/pages/catalog.js" => JS,
    "js/pages/models.js" => JS,
    "js/pages/apps.js" => JS,
    "js/pages/subscriptions.js" => JS,
    "js/pages/approvals.js" => JS,
    "js/pages/people.js" => JS,
    "js/chart.js" => JS,
    "js/pages/usage.js" => JS,
    "js/pages/calls.js" => JS,
    "js/pages/audit.js" => JS,
    "js/pages/limits.js" => JS,
    "js/entries.js" => JS,
    "js/pages/apis.js" => JS,
    "js/pages/upstreams.js" => JS,
    "js/pages/providers.js" => JS,
    "js/pages/admin-models.js" => JS,
};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

/// Whether the admin listener should answer `path` from here.
pub fn serves(path: &str) -> bool {
    path == "/" || path == "/console" || path.starts_with("/console/")
}

/// The answer for a console path: a file, a redirect to the console's start, or 404.
/// `if_none_match` is the request's `If-None-Match`, answered with 304 when the file is unchanged.
///
/// The start page loads everything else under `/console/v-<version>/`, the version being a hash
/// of all the files: under it a file is cached for good (`immutable`), so a page load fetches
/// only the start page, while a new binary's files, under a new version, are fetched at once.
pub fn answer(path: &str, if_none_match: Option<&str>) -> Response<Vec<u8>> {
    let file = match path.strip_prefix("/console/") {
        Some("") => "index.html",
        Some(file) => file,
        None => return redirect("/console/"),
    };
    // A file under an older version (a page loaded before an upgrade) is served, uncached.
    let (file, current) = match file.strip_prefix("v-").and_then(|f| f.split_once('/')) {
        Some((v, file)) => (file, v == version()),
        None => (file, false),
    };
    let Some(asset) = ASSETS.iter().find(|a| a.path == file) else {
        return super::json_error(404, &format!("no console file {file}"));
    };
    let from_disk = development_copy(asset.path);
    let forever = current && from_disk.is_none();
    let mut body = from_disk.unwrap_or_else(|| asset.body.to_vec());
    if file == "index.html" {
        body = versioned_start_page(&body);
    }
    let tag = etag(&body);
    let cache = match forever {
        true => "public, max-age=31536000, immutable",
        false => "no-cache",
    };
    let builder = Response::builder()
        .header(http::header::ETAG, &tag)
        .header(http::header::CACHE_CONTROL, cache)
        .header("content-security-policy", CSP)
        .header("x-content-type-options", "nosniff")
        .header("x-frame-options", "DENY")
        .header("referrer-policy", "no-referrer");
    if if_none_match == Some(tag.as_str()) {
        return builder.status(304).body(Vec::new()).unwrap_or_default();
    }
    builder
        .status(200)
        .header(http::header::CONTENT_TYPE, asset.content_type)
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(body)
        .unwrap_or_default()
}

/// This build's version of the files: a hash of them all.
fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let all: Vec<u8> = ASSETS.iter().flat_map(|a| a.body.iter().copied()).collect();
        etag(&all).trim_matches('"').to_string()
    })
}

/// The start page with its style sheet and script under this build's version (relative
/// imports in the scripts then resolve under it too).
fn versioned_start_page(body: &[u8]) -> Vec<u8> {
    let v = version();
    String::from_utf8_lossy(body)
        .replace(
            "href=\"console.css\"",
            &format!("href=\"v-{v}/console.css\""),
        )
        .replace("src=\"js/app.js\"", &format!("src=\"v-{v}/js/app.js\""))
        .into_bytes()
}

/// With `TOLLGATE_CONSOLE_DIR` set (console development), the file as it is now in that
/// directory, so an edit shows on reload without a rebuild. Only files `ASSETS` lists are read.
fn development_copy(path: &str) -> Option<Vec<u8>> {
    let dir = std::env::var_os("TOLLGATE_CONSOLE_DIR")?;
    std::fs::read(std::path::Path::new(&dir).join(path)).ok()
}

fn redirect(to: &str) -> Response<Vec<u8>> {
    Response::builder()
        .status(308)
        .header(http::header::LOCATION, to)
        .header(http::header::CONTENT_LENGTH, 0)
        .body(Vec::new())
        .unwrap_or_default()
}

/// A strong validator from the file's bytes (FNV-1a: the files are the binary's own, so a
/// collision needs no defending against, only a change noticing).
fn etag(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}-{}\"", body.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                files_under(&entry.path(), &format!("{name}/"), out);
            } else {
                out.push(name);
            }
        }
    }

    #[test]
    fn every_console_file_is_served_with_its_type() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut files = Vec::new();
        files_under(&root, "", &mut files);
        for file in &files {
            let asset = ASSETS.iter().find(|a| a.path == file);
            let asset = asset.unwrap_or_else(|| panic!("console/{file} is not in ASSETS"));
            let ext = file.rsplit('.').next().unwrap();
            let want = match ext {
                "js" => JS,
                "html" => "text/html; charset=utf-8",
                "css" => "text/css; charset=utf-8",
                "svg" => "image/svg+xml",
                other => panic!("console/{file}: no type for .{other}"),
            };
            assert_eq!(asset.content_type, want, "{file}");
        }
        assert_eq!(
            files.len(),
            ASSETS.len(),
            "ASSETS lists a file that is not there"
        );
    }

    #[test]
    fn the_start_page_and_redirects() {
        assert_eq!(answer("/", None).status(), 308);
        assert_eq!(answer("/console", None).status(), 308);
        let index = answer("/console/", None);
        assert_eq!(index.status(), 200);
        let tag = index.headers()["etag"].to_str().unwrap().to_string();
        assert_eq!(answer("/console/index.html", Some(&tag)).status(), 304);
        assert_eq!(answer("/console/../Cargo.toml", None).status(), 404);
        assert_eq!(answer("/console/js/nope.js", None).status(), 404);
        // The start page loads the rest under this build's version, cached for good.
        let page = String::from_utf8(index.body().clone()).unwrap();
        let script = format!("src=\"v-{}/js/app.js\"", version());
        assert!(page.contains(&script), "{page}");
        assert_eq!(index.headers()["cache-control"], "no-cache");
        let app = answer(&format!("/console/v-{}/js/app.js", version()), None);
        assert_eq!(app.status(), 200);
        assert!(app.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable"));
        // An older version's file is still served, but not kept.
        let old = answer("/console/v-0123/js/app.js", None);
        assert_eq!(old.status(), 200);
        assert_eq!(old.headers()["cache-control"], "no-cache");
        assert!(index.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
    }
}
