//! Allocations per request on the pieces of a plain proxied `GET` that run without a network
//! (issue 17 asks for the count before and after its changes). A counting global allocator
//! wraps the system one; each piece runs many times and the average count is printed.
//! Run: `cargo bench --bench request_allocs`.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use tollgate::proxy::ctx::{InflightGuard, RequestCtx, RequestIds};
use tollgate::telemetry::metrics::Registry;

/// Counts every allocation and reallocation (frees are not counted: each allocation is freed
/// once, so the number of pairs is the number of allocations).
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through `alloc` or `realloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: as for `dealloc`; `new_size` is the caller's, checked by its contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const RUNS: u64 = 10_000;

/// Runs `piece` RUNS times on inputs made beforehand (not counted) and prints the allocations
/// per run; returns them.
fn count<I, O>(name: &str, make: impl Fn() -> I, piece: impl Fn(I) -> O) -> f64 {
    let inputs: Vec<I> = (0..RUNS).map(|_| make()).collect();
    let mut outputs = Vec::with_capacity(RUNS as usize);
    let before = ALLOCS.load(Relaxed);
    for input in inputs {
        outputs.push(black_box(piece(input)));
    }
    let per_run = (ALLOCS.load(Relaxed) - before) as f64 / RUNS as f64;
    drop(outputs);
    println!("{name:<40} {per_run:>6.2}");
    per_run
}

fn main() {
    let snap = common::snapshot();
    let route = common::route(&snap);
    let registry = Arc::new(Registry::default());
    let ids = RequestIds::new();
    let headers = http::HeaderMap::new();
    let request = common::get_request();
    let response = common::small_response();
    let id = ids.next(None);
    println!(
        "size of RequestCtx: {} bytes",
        std::mem::size_of::<RequestCtx>()
    );
    println!("{:<40} {:>6}", "piece of a GET /small", "allocs");
    let pieces = [
        count(
            "target normalised (routing::target)",
            || (),
            |_| tollgate::routing::target::normalize("/small").map(|p| p.len()),
        ),
        count(
            "route found (snapshot route table)",
            || (),
            |_| {
                snap.routes
                    .find("127.0.0.1", "/small", &http::Method::GET, &headers)
                    .cloned()
            },
        ),
        count(
            "request context (new, id, slot, drop)",
            || (),
            |_| {
                let mut ctx = RequestCtx::new();
                ctx.inflight = Some(InflightGuard::new(&registry));
                ctx.request_id = ids.next(None);
                ctx.route = Some(route.clone());
                drop(ctx);
            },
        ),
        count(
            "request head rewritten (upstream)",
            || request.clone(),
            |mut req| {
                common::rewrite_request(&route, &request, &mut req, id.header());
                req
            },
        ),
        count(
            "answer head rewritten (downstream)",
            || response.clone(),
            |mut resp| {
                common::rewrite_response(&route, &mut resp, id.header());
                resp
            },
        ),
    ];
    println!("{:<40} {:>6.2}", "total", pieces.iter().sum::<f64>());
    println!("the request head's rewrite, step by step:");
    use tollgate::proxy::headers;
    count(
        "  hop-by-hop fields stripped",
        || request.clone(),
        |mut req| {
            headers::strip_request_hop_by_hop(&mut req, false);
            req
        },
    );
    count(
        "  forwarding headers (4) set",
        || request.clone(),
        |mut req| {
            let ip = headers::ip_value(std::net::IpAddr::from([127, 0, 0, 1]));
            let host = request.headers.get(http::header::HOST);
            headers::set_forwarded(&mut req, ip.as_ref(), host, false);
            req
        },
    );
    count(
        "  route transform (1 set, 1 remove)",
        || request.clone(),
        |mut req| {
            headers::apply_request(&route.spec.request_headers, &mut req);
            req
        },
    );
    count(
        "  request id set",
        || request.clone(),
        |mut req| {
            req.insert_titled_header(headers::REQUEST_ID, id.header().clone());
            req
        },
    );
}
