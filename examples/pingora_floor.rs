//! The minimal Pingora proxy that `loadtest/run.sh` measures beside Tollgate (issue 17's
//! "floor"): the same Pingora release build and allocator (mimalloc) as Tollgate, one fixed
//! peer, a keep-alive pool, no filters. Whatever Tollgate costs above this is Tollgate's own.
//!
//! `pingora_floor LISTEN PEER [THREADS [POOL]] [--lean]`, for example
//! `pingora_floor 127.0.0.1:8080 127.0.0.1:9000 1 256` (POOL: idle connections kept to the peer,
//! default 64, as an upstream's `keepalive`). Built with
//! `cargo build --release --example pingora_floor`.
//!
//! `--lean` puts Tollgate's lean HTTP/1 path (`tollgate::lean`) in front, with the same peer
//! and pool size: the floor of a proxy that does not go through Pingora's HTTP/1 session for
//! plain requests (issue 17, point 3). What the lean path does not take, this same floor serves.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use pingora::modules::http::HttpModules;
use pingora::prelude::*;
use pingora::proxy::http_proxy;
use pingora::server::configuration::ServerConf;
use pingora::services::listening::Service;

/// The same allocator as the `tollgate` binary (src/main.rs), so the floor differs from it by
/// Tollgate's own work only.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Every request goes to one peer, over plain HTTP/1.1, pooled.
struct Floor {
    peer: SocketAddr,
}

impl ProxyHttp for Floor {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    /// None, as Tollgate (Pingora's default adds its compression module, disabled).
    fn init_downstream_modules(&self, _modules: &mut HttpModules) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.peer, false, String::new())))
    }
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let lean = args.iter().any(|a| a == "--lean");
    args.retain(|a| a != "--lean");
    let parsed = match args.as_slice() {
        [listen, peer] => parse(listen, peer, "1", "64"),
        [listen, peer, threads] => parse(listen, peer, threads, "64"),
        [listen, peer, threads, pool] => parse(listen, peer, threads, pool),
        _ => Err("usage: pingora_floor LISTEN PEER [THREADS [POOL]]".to_string()),
    };
    let (listen, peer, threads, pool) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("pingora_floor: {e}");
            return ExitCode::from(2);
        }
    };
    let conf = ServerConf {
        threads,
        // As Tollgate's workers (src/worker.rs): one current-thread runtime per thread.
        work_stealing: false,
        upstream_keepalive_pool_size: pool,
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    if lean {
        let settings = tollgate::lean::Settings {
            keepalive: Some(Duration::from_secs(60)),
            head: Some(Duration::from_secs(60)),
            client_io: Duration::from_secs(60),
            pool_size: pool,
            pool_idle: Duration::from_secs(60),
        };
        let upstream = tollgate::lean::Upstream {
            addr: peer,
            connect: Duration::from_secs(10),
            io: Duration::from_secs(60),
        };
        let app = tollgate::lean::LeanApp {
            policy: tollgate::lean::FixedPeer(upstream),
            fallback: Arc::new(http_proxy(&server.configuration, Floor { peer })),
            settings,
        };
        let mut service = Service::new("lean floor".into(), app);
        service.add_tcp(&listen.to_string());
        server.add_service(service);
    } else {
        let mut proxy = http_proxy_service(&server.configuration, Floor { peer });
        proxy.add_tcp(&listen.to_string());
        server.add_service(proxy);
    }
    server.run_forever()
}

/// The command line, each part checked, so a typo is an error message rather than a panic.
fn parse(
    listen: &str,
    peer: &str,
    threads: &str,
    pool: &str,
) -> Result<(SocketAddr, SocketAddr, usize, usize), String> {
    let addr = |what: &str, s: &str| {
        s.parse::<SocketAddr>()
            .map_err(|e| format!("{what} '{s}' is not an IP:port ({e})"))
    };
    let count = |what: &str, s: &str| match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{what} '{s}' is not a whole number above 0")),
    };
    Ok((
        addr("LISTEN", listen)?,
        addr("PEER", peer)?,
        count("THREADS", threads)?,
        count("POOL", pool)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn command_line_is_checked() {
        let ok = parse("127.0.0.1:8080", "127.0.0.1:9000", "2", "256").expect("valid");
        assert_eq!(ok.2, 2);
        assert_eq!(ok.3, 256);
        assert_eq!(ok.1.port(), 9000);
        for (listen, peer, threads, pool, needle) in [
            ("localhost:1", "127.0.0.1:2", "1", "1", "LISTEN"),
            ("127.0.0.1:1", "127.0.0.1", "1", "1", "PEER"),
            ("127.0.0.1:1", "127.0.0.1:2", "0", "1", "THREADS"),
            ("127.0.0.1:1", "127.0.0.1:2", "x", "1", "THREADS"),
            ("127.0.0.1:1", "127.0.0.1:2", "1", "0", "POOL"),
        ] {
            let err = parse(listen, peer, threads, pool).expect_err("invalid");
            assert!(err.contains(needle), "{err}");
        }
    }
}
