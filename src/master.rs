//! The master process: forks the workers and the admin process before any runtime exists,
//! restarts a child that dies, reloads on SIGHUP, has the workers reopen their access log on
//! SIGUSR1, drains on SIGTERM and tells systemd.
//!
//! The master stays single-threaded: it blocks its signals and waits for them with
//! `sigtimedwait`, so forking is always safe.

pub mod notify;
pub mod rlimit;
pub mod scoreboard;

use crate::config::{self, Config};
use crate::limits::concurrency::ConcurrencyTable;
use crate::limits::local::LocalTable;
use crate::limits::top::TopTable;
use crate::worker::{self, WorkerArgs};
use scoreboard::{Scoreboard, MAX_SLOTS};
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A child that dies sooner than this after its start is restarted only after a pause.
const CRASH_LOOP_WINDOW: Duration = Duration::from_secs(1);

/// How long after the grace period a stopping master waits before it kills what is left.
const KILL_AFTER_GRACE: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Worker,
    Admin,
}

struct Child {
    pid: Option<i32>,
    started: Instant,
    restart_at: Option<Instant>,
}

pub struct Master {
    path: PathBuf,
    config: Arc<Config>,
    board: &'static Scoreboard,
    /// The host-wide limit table, mapped before the first fork.
    limiter: LocalTable,
    /// The host-wide concurrency table; a worker's column is zeroed when no process owns it.
    concurrency: ConcurrencyTable,
    /// The most refused buckets, beside it.
    top: TopTable,
    /// The host's MCP sessions, mapped before the first fork like the tables above.
    sessions: crate::mcp::sessions::SessionTable,
    children: Vec<Child>,
    stopping: Option<Instant>,
    /// Whether the children left at the stop deadline were told to die.
    killed_the_rest: bool,
    announced_ready: bool,
    reload_pending_since: Option<Instant>,
}

const SIGNALS: [libc::c_int; 6] = [
    libc::SIGCHLD,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGQUIT,
];

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset only write into the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Says which certificates expire within two weeks (or have expired).
fn warn_expiring(config: &Config) {
    let now = crate::base::clock::now_unix();
    for w in config::expiring(&config.tls, now) {
        tracing::warn!("tls: {w}");
    }
}

/// Starts the gateway and supervises it; returns the process exit code.
pub fn run(path: PathBuf, config: Config) -> i32 {
    warn_expiring(&config);
    for addr in config.server.listen.iter().map(|l| l.addr) {
        if let Err(e) = std::net::TcpListener::bind(addr) {
            eprintln!("tollgate: cannot listen on {addr}: {e}");
            return 1;
        }
    }
    if let Some(admin) = &config.admin {
        if let Err(e) = std::net::TcpListener::bind(admin.listen) {
            eprintln!("tollgate: cannot listen on {} (admin): {e}", admin.listen);
            return 1;
        }
        if admin.token.is_empty() {
            tracing::warn!(
                "admin.token is empty: /readyz and /metrics refuse every request until it is set"
            );
        }
    }
    // Before the fork: the children inherit it.
    rlimit::raise_open_files();
    // A file grown past RLIMIT_FSIZE must fail its write (EFBIG: the sink counts it and the
    // request goes on), not kill the process. Inherited by the children.
    // SAFETY: setting a signal's disposition to SIG_IGN runs no handler code.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    // Opened, migrated and seeded here, then closed: each child opens its own connection
    // after the fork (an SQLite connection must not cross one).
    if let Err(e) = seed_store(config.store.as_ref(), &config.tenants, true)
        .and_then(|()| bootstrap_operator(&config))
    {
        eprintln!("tollgate: {e}");
        return 1;
    }
    let board = match Scoreboard::map() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("tollgate: cannot map shared memory: {e}");
            return 1;
        }
    };
    let limiter = match LocalTable::map(config.server.limit_slots) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tollgate: cannot map the limit table: {e}");
            return 1;
        }
    };
    let concurrency = match ConcurrencyTable::map(config.server.concurrency_slots) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tollgate: cannot map the concurrency table: {e}");
            return 1;
        }
    };
    let top = match TopTable::map() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tollgate: cannot map the table of refused buckets: {e}");
            return 1;
        }
    };
    let sessions = config
        .mcp
        .as_ref()
        .map_or(crate::config::DEFAULT_MCP_SESSIONS, |m| m.max_sessions);
    let sessions = match crate::mcp::sessions::SessionTable::map(sessions) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tollgate: cannot map the MCP session table: {e}");
            return 1;
        }
    };
    let set = signal_set();
    // SAFETY: blocks signals for this (single) thread; they are taken with sigtimedwait below.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    board.master_pid.store(std::process::id() as i32, Relaxed);
    board.generation.store(1, Relaxed);
    board.workers.store(config.server.workers as u64, Relaxed);
    let mut master = Master {
        path,
        config: Arc::new(config),
        board,
        limiter,
        concurrency,
        top,
        sessions,
        children: Vec::new(),
        stopping: None,
        killed_the_rest: false,
        announced_ready: false,
        reload_pending_since: None,
    };
    master.resize_children();
    tracing::info!(
        "tollgate {} started: {} workers x {} threads on {}",
        env!("CARGO_PKG_VERSION"),
        master.config.server.workers,
        master.config.server.threads,
        master
            .config
            .server
            .listen
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    master.supervise(set)
}

impl Master {
    fn role(&self, slot: usize) -> Role {
        if slot == MAX_SLOTS - 1 {
            Role::Admin
        } else {
            Role::Worker
        }
    }

    /// Slot indexes in use: the workers, then the admin slot when an admin listener is set.
    fn slots(&self) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.config.server.workers).collect();
        if self.config.admin.is_some() {
            v.push(MAX_SLOTS - 1);
        }
        v
    }

    fn resize_children(&mut self) {
        if self.children.len() < MAX_SLOTS {
            self.children.resize_with(MAX_SLOTS, || Child {
                pid: None,
                started: Instant::now(),
                restart_at: Some(Instant::now()),
            });
        }
        let wanted = self.slots();
        for slot in 0..MAX_SLOTS {
            let want = wanted.contains(&slot);
            let child = &mut self.children[slot];
            match (want, child.pid) {
                (true, None) if child.restart_at.is_none() => {
                    child.restart_at = Some(Instant::now())
                }
                (false, Some(pid)) => {
                    send(pid, libc::SIGTERM);
                    child.restart_at = None;
                }
                (false, None) => child.restart_at = None,
                _ => {}
            }
        }
        self.start_due_children();
    }

    fn start_due_children(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        let now = Instant::now();
        for slot in self.slots() {
            let due = self.children[slot].pid.is_none()
                && self.children[slot].restart_at.is_some_and(|t| t <= now);
            if due {
                self.spawn(slot);
            }
        }
    }

    fn spawn(&mut self, slot: usize) {
        let role = self.role(slot);
        self.board.slots[slot].ready_generation.store(0, Relaxed);
        // Read before the fork: once it runs, the master may accept a newer generation than the
        // configuration the child inherits.
        let generation = self.board.generation.load(Relaxed);
        // The slot's previous worker, if any, is dead: what it held in flight is not.
        self.concurrency.reset_worker(slot);
        // SAFETY: the master is single-threaded, so the child starts with a consistent heap.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => self.become_child(slot, role, generation),
            Ok(nix::unistd::ForkResult::Parent { child }) => {
                let pid = child.as_raw();
                self.board.slots[slot].pid.store(pid, Relaxed);
                self.children[slot] = Child {
                    pid: Some(pid),
                    started: Instant::now(),
                    restart_at: None,
                };
            }
            Err(e) => {
                tracing::error!("fork failed for {role:?} {slot}: {e}; retrying in 1s");
                self.children[slot].restart_at = Some(Instant::now() + CRASH_LOOP_WINDOW);
            }
        }
    }

    /// Runs the child; `generation` is the one of the configuration it inherits.
    fn become_child(&self, slot: usize, role: Role, generation: u64) -> ! {
        let set = signal_set();
        // SAFETY: plain syscalls on this process: unblock the master's signals and ask to be
        // killed if the master dies, so no orphan keeps serving. SIGKILL, not SIGTERM: a worker
        // stuck in a loop never acts on a signal it has to handle (an orphan has nobody left to
        // drain for anyway). SIGHUP is ignored until the child installs its own handler: a
        // reload sent while it starts would otherwise kill it (the default action). The child
        // catches up on the generation instead. SIGUSR1 likewise (a worker opens its access
        // log as it starts, so it has nothing to reopen yet; the admin process has none).
        unsafe {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            libc::signal(libc::SIGUSR1, libc::SIG_IGN);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        }
        // A master that died between the fork and the prctl sent no signal: the child was
        // re-parented already, so it goes now.
        if nix::unistd::getppid().as_raw() != self.board.master_pid.load(Relaxed) {
            // SAFETY: _exit ends this process without running the parent's exit handlers.
            unsafe { libc::_exit(0) };
        }
        match role {
            Role::Worker => worker::run(WorkerArgs {
                slot,
                config_path: self.path.clone(),
                config: self.config.clone(),
                generation,
                board: self.board,
                limiter: self.limiter,
                concurrency: self.concurrency,
                top: self.top,
                sessions: self.sessions,
            }),
            Role::Admin => crate::admin::run(
                self.config.clone(),
                self.path.clone(),
                self.board,
                generation,
                crate::admin::Tables {
                    limiter: self.limiter,
                    top: self.top,
                },
            ),
        }
    }

    fn supervise(&mut self, set: libc::sigset_t) -> i32 {
        loop {
            let sig = wait_signal(&set, Duration::from_millis(100));
            match sig {
                Some(libc::SIGHUP) if self.stopping.is_none() => self.reload(),
                Some(libc::SIGUSR1) => self.reopen_logs(),
                Some(libc::SIGTERM | libc::SIGQUIT) => self.stop(libc::SIGTERM),
                Some(libc::SIGINT) => self.stop(libc::SIGINT),
                _ => {}
            }
            self.reap();
            if let Some(deadline) = self.stopping {
                if self.children.iter().all(|c| c.pid.is_none()) {
                    tracing::info!("all workers stopped; exiting");
                    return 0;
                }
                if Instant::now() > deadline {
                    self.kill_the_rest();
                }
                continue;
            }
            self.start_due_children();
            self.track_readiness();
        }
    }

    /// Past the stop deadline: SIGKILL every child still running (said once, sent each round
    /// until they are reaped).
    fn kill_the_rest(&mut self) {
        let left: Vec<i32> = self.children.iter().filter_map(|c| c.pid).collect();
        if !self.killed_the_rest {
            self.killed_the_rest = true;
            tracing::warn!(
                "{} children still running past the stop deadline; killing them: {left:?}",
                left.len()
            );
        }
        for pid in left {
            send(pid, libc::SIGKILL);
        }
    }

    fn track_readiness(&mut self) {
        if !self.announced_ready && self.board.all_workers_ready() {
            self.announced_ready = true;
            tracing::info!("all {} workers are serving", self.config.server.workers);
            notify::send("READY=1");
        }
        if let Some(since) = self.reload_pending_since {
            if self.board.all_workers_current() {
                self.reload_pending_since = None;
                tracing::info!("reload applied by every worker");
                notify::send("READY=1");
            } else if since.elapsed() > Duration::from_secs(10) {
                self.reload_pending_since = None;
                tracing::warn!("some workers did not apply the reload within 10s (see their log)");
                notify::send("READY=1");
            }
        }
    }

    fn reap(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: waitpid with WNOHANG on any child; status is a valid out pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                return;
            }
            let Some(slot) = self.children.iter().position(|c| c.pid == Some(pid)) else {
                continue;
            };
            self.board.slots[slot].pid.store(0, Relaxed);
            self.board.slots[slot].ready_generation.store(0, Relaxed);
            self.concurrency.reset_worker(slot);
            let child = &mut self.children[slot];
            child.pid = None;
            if self.stopping.is_some() || !self.slots().contains(&slot) {
                continue;
            }
            let role = self.role(slot);
            tracing::warn!(
                "{role:?} {slot} (pid {pid}) exited ({}); restarting it",
                describe(status)
            );
            self.board.worker_restarts.fetch_add(1, Relaxed);
            let child = &mut self.children[slot];
            let delay = if child.started.elapsed() < CRASH_LOOP_WINDOW {
                CRASH_LOOP_WINDOW
            } else {
                Duration::ZERO
            };
            child.restart_at = Some(Instant::now() + delay);
        }
    }

    fn reload(&mut self) {
        notify::reloading();
        let new = match config::load(&self.path) {
            Ok(c) => c,
            Err(problems) => {
                tracing::error!("reload refused, the running configuration stays:\n{problems}");
                notify::send("READY=1");
                return;
            }
        };
        // The seed goes into the store the children have open (`store.path` is restart-only);
        // a file that drops `[store]` until the restart leaves its entries alone meanwhile.
        let running_store = self.config.store.as_ref().filter(|_| new.store.is_some());
        if let Err(e) = seed_store(running_store, &new.tenants, false) {
            tracing::error!("reload refused, the running configuration stays: {e}");
            notify::send("READY=1");
            return;
        }
        if let Err(e) = bootstrap_operator(&new) {
            tracing::error!("reload refused, the running configuration stays: {e}");
            notify::send("READY=1");
            return;
        }
        warn_expiring(&new);
        let fixed = restart_only_changes(&self.config, &new);
        if !fixed.is_empty() {
            tracing::warn!("{} changes apply on restart only", fixed.join(", "));
        }
        let generation = self.board.generation.fetch_add(1, Relaxed) + 1;
        let workers = new.server.workers;
        self.config = Arc::new(keep_start_settings(&self.config, new));
        self.board.workers.store(workers as u64, Relaxed);
        for slot in self.slots() {
            if let Some(pid) = self.children[slot].pid {
                send(pid, libc::SIGHUP);
            }
        }
        self.resize_children();
        self.reload_pending_since = Some(Instant::now());
        tracing::info!("configuration generation {generation} accepted; workers are applying it");
    }

    /// Asks every worker to reopen its access log file (after logrotate moved it).
    fn reopen_logs(&self) {
        tracing::info!("SIGUSR1: workers reopen their access log");
        for slot in 0..self.config.server.workers {
            if let Some(pid) = self.children.get(slot).and_then(|c| c.pid) {
                send(pid, libc::SIGUSR1);
            }
        }
    }

    fn stop(&mut self, sig: libc::c_int) {
        if self.stopping.is_some() {
            return;
        }
        notify::send("STOPPING=1");
        // A fast stop drains nothing, so it waits for no grace period before the kill.
        let grace = if sig == libc::SIGINT {
            tracing::info!("stopping now, without draining");
            Duration::ZERO
        } else {
            tracing::info!(
                "stopping: draining workers for up to {:?}",
                self.config.server.grace_period
            );
            self.config.server.grace_period
        };
        self.stopping = Some(Instant::now() + grace + KILL_AFTER_GRACE);
        for c in &self.children {
            if let Some(pid) = c.pid {
                send(pid, sig);
            }
        }
    }
}

/// `new` with the settings the running children read at start put back from `running`, so a
/// child forked later is like the others: the listeners, threads, drain time, log writer and
/// store, and the admin process (a reload never starts, stops or moves it; only its token is
/// taken from `new`, which the running admin process re-reads itself).
fn keep_start_settings(running: &Config, new: Config) -> Config {
    let mut kept = new;
    kept.server.listen = running.server.listen.clone();
    kept.server.threads = running.server.threads;
    kept.server.grace_period = running.server.grace_period;
    kept.server.header_timeout = running.server.header_timeout;
    kept.server.max_connections = running.server.max_connections;
    kept.log = running.log.clone();
    kept.otel = running.otel.clone();
    kept.admin = match (&running.admin, kept.admin.take()) {
        (Some(old), Some(new)) => Some(config::AdminSettings {
            listen: old.listen,
            tls: old.tls,
            ..new
        }),
        (old, _) => old.clone(),
    };
    kept.store = match (&running.store, kept.store.take()) {
        (Some(old), Some(new)) => Some(config::StoreSettings {
            path: old.path.clone(),
            ..new
        }),
        (old, _) => old.clone(),
    };
    kept
}

/// The settings that differ in `new` but are only read when the gateway starts.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let admin_listen = |c: &Config| c.admin.as_ref().map(|a| a.listen);
    let admin_tls = |c: &Config| c.admin.as_ref().map(|a| a.tls);
    let (o, n) = (&old.server, &new.server);
    let both_admin = old.admin.is_some() && new.admin.is_some();
    [
        ("server.listen", o.listen != n.listen),
        ("server.threads", o.threads != n.threads),
        ("server.grace_period", o.grace_period != n.grace_period),
        (
            "server.header_timeout",
            o.header_timeout != n.header_timeout,
        ),
        (
            "server.max_connections",
            o.max_connections != n.max_connections,
        ),
        ("[admin]", old.admin.is_some() != new.admin.is_some()),
        (
            "admin.listen",
            both_admin && admin_listen(old) != admin_listen(new),
        ),
        ("admin.tls", both_admin && admin_tls(old) != admin_tls(new)),
        ("log.access", old.log.access != new.log.access),
        ("log.queue", old.log.queue != new.log.queue),
        ("log.level", old.log.level != new.log.level),
        ("store.path", store_path(old) != store_path(new)),
        ("[otel]", old.otel != new.otel),
        ("server.limit_slots", o.limit_slots != n.limit_slots),
        ("mcp.max_sessions", max_sessions(old) != max_sessions(new)),
        (
            "server.concurrency_slots",
            o.concurrency_slots != n.concurrency_slots,
        ),
        ("server.http2", o.http2 != n.http2),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

fn max_sessions(c: &Config) -> Option<usize> {
    c.mcp.as_ref().map(|m| m.max_sessions)
}

fn store_path(c: &Config) -> Option<&std::path::Path> {
    c.store.as_ref().map(|s| s.path.as_path())
}

/// Writes the configuration's `[[tenants]]` into the store. At start (`create`) it also creates
/// or migrates the file and pins it for the children; on a reload the file must be the one
/// the gateway started with (never a new, empty one in place of a deleted one).
fn seed_store(
    settings: Option<&config::StoreSettings>,
    tenants: &[config::TenantSeed],
    create: bool,
) -> Result<(), String> {
    let Some(settings) = settings else {
        return Ok(());
    };
    let store = match create {
        true => crate::store::Store::create(&settings.path).inspect(|s| s.pin()),
        false => crate::store::Store::open(&settings.path),
    }
    .map_err(|e| format!("store: {e}"))?;
    store
        .apply_seed(tenants)
        .map_err(|e| format!("store {}: {e}", settings.path.display()))
}

/// Makes `[admin] bootstrap_operator` in the store unless a user has its name (an existing
/// user's password is never changed from here). Hashing takes a moment, only when it is made.
fn bootstrap_operator(config: &Config) -> Result<(), String> {
    let Some((name, password)) = config
        .admin
        .as_ref()
        .and_then(|a| a.users.bootstrap.as_ref())
    else {
        return Ok(());
    };
    let Some(settings) = &config.store else {
        return Err("admin.bootstrap_operator: users live in the store; configure [store]".into());
    };
    let fail = |e: crate::store::StoreError| format!("store {}: {e}", settings.path.display());
    let store = crate::store::Store::open(&settings.path).map_err(fail)?;
    if store.find_user(name).map_err(fail)?.is_some() {
        return Ok(());
    }
    let hash = crate::admin::password::hash_blocking(password.expose())
        .map_err(|e| format!("admin.bootstrap_operator: {e}"))?;
    let user = crate::store::NewUser {
        name: name.clone(),
        email: String::new(),
        role: crate::store::Role::Operator,
        tenant: None,
        password_hash: config::Secret::new(hash),
    };
    if store.ensure_user(&user).map_err(fail)? {
        tracing::info!("admin: made the bootstrap operator {name:?}");
    }
    Ok(())
}

fn send(pid: i32, sig: libc::c_int) {
    // SAFETY: kill(2) on a pid this master forked.
    unsafe { libc::kill(pid, sig) };
}

fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<libc::c_int> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: the set is initialised and the info pointer may be null.
    let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    (sig > 0).then_some(sig)
}

fn describe(status: libc::c_int) -> String {
    if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("exit code {}", libc::WEXITSTATUS(status))
    }
}
