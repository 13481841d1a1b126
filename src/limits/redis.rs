//! A worker's link to Redis for cluster-scope limits: one multiplexed connection, kept (and
//! re-made after a failure) by a task on the worker's own `tollgate-redis` thread, so that a
//! request never waits for a connect. Each decision is one run of `bucket.lua` by EVALSHA
//! (loaded once per connection, reloaded by the client if Redis restarted and lost it),
//! bounded by `[redis] timeout`.
//!
//! A circuit breaker per worker stands in front: after `breaker_failures` failures in a row it
//! opens, and for `breaker_cooldown` every decision goes straight to the limit's failure
//! policy. Then one decision is let through to try Redis; success closes the breaker. So a
//! dead or stopped Redis adds at most `timeout` to a request, and only to the few that probe.

use crate::base::breaker::Breaker;
use crate::base::clock::now_ms;
use crate::base::gcra::Rate;
use crate::config::RedisSettings;
use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::Notify;

thread_local! {
    /// This thread's own connection to each link, once made.
    static LOCAL: std::cell::RefCell<Vec<Local>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct Local {
    link: u64,
    /// Gone once the link is dropped (a reload changed `[redis]`): the entry is then removed.
    alive: std::sync::Weak<()>,
    epoch: u64,
    /// `None` while it is being made.
    conn: Option<Conn>,
}

/// What a run of the script does with a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// All the units or none.
    Take,
    /// As many units as fit, up to the ones asked for, but at least `need`.
    Lease {
        need: u64,
    },
    Refund,
    /// Take the units even into debt (the settlement of an LLM call that used more).
    Charge,
    Peek,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Take => "take",
            Mode::Lease { .. } => "lease",
            Mode::Refund => "refund",
            Mode::Charge => "charge",
            Mode::Peek => "peek",
        }
    }
}

/// Redis's answer, in the units and nanoseconds the local table uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptReply {
    /// Units taken; 0 when refused.
    pub granted: u64,
    pub remaining: u64,
    pub retry_after: u64,
    pub reset_after: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("circuit breaker open after repeated Redis failures")]
    BreakerOpen,
    #[error("not connected to Redis")]
    NotConnected,
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

pub struct RedisLink {
    /// Tells this link's connections apart from another link's in `LOCAL`.
    id: u64,
    /// Bumped when the keeper reconnects: threads then make their connections again.
    epoch: AtomicU64,
    alive: Arc<()>,
    settings: RedisSettings,
    conn: ArcSwapOption<Conn>,
    script: redis::Script,
    breaker: Breaker,
    /// Wakes the keeper to check the connection after a failure.
    wake: Notify,
    runtime: tokio::runtime::Handle,
}

impl RedisLink {
    /// Starts the link's thread and its keeper; the first connection is made in the
    /// background, and decisions before it follow the failure policy.
    pub fn start(settings: RedisSettings) -> std::io::Result<Arc<RedisLink>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        static LINKS: AtomicU64 = AtomicU64::new(0);
        let link = Arc::new(RedisLink {
            id: LINKS.fetch_add(1, Relaxed),
            epoch: AtomicU64::new(0),
            alive: Arc::new(()),
            breaker: Breaker::default(),
            settings,
            conn: ArcSwapOption::empty(),
            script: redis::Script::new(include_str!("bucket.lua")),
            wake: Notify::new(),
            runtime: rt.handle().clone(),
        });
        let weak = Arc::downgrade(&link);
        std::thread::Builder::new()
            .name("tollgate-redis".into())
            .spawn(move || rt.block_on(keep(weak)))?;
        Ok(link)
    }

    /// The key of a bucket: the hash tag holds the whole bucket name, so on Redis Cluster
    /// each bucket lives in one slot and the script touches one key.
    pub fn key(&self, limit: &str, bucket: u64) -> String {
        format!("{}:{{{limit}:{bucket:016x}}}", self.settings.key_prefix)
    }

    pub fn settings(&self) -> &RedisSettings {
        &self.settings
    }

    pub fn reset_breaker(&self) {
        self.breaker.reset();
    }

    /// Runs the script once for `units` of `key`.
    pub async fn run(
        &self,
        key: &str,
        rate: Rate,
        units: u64,
        mode: Mode,
    ) -> Result<ScriptReply, RedisError> {
        if !self
            .breaker
            .admit_or_probe(now_ms(), self.settings.breaker_cooldown)
        {
            return Err(RedisError::BreakerOpen);
        }
        // Disconnected costs no time: the keeper is already reconnecting.
        let Some((mut conn, own)) = self.conn_here() else {
            return Err(RedisError::NotConnected);
        };
        let need = match mode {
            Mode::Lease { need } => need,
            _ => units,
        };
        let mut call = self.script.key(key);
        call.arg(rate.interval as f64 / 1e3)
            .arg(rate.capacity as f64 / 1e3)
            .arg(units)
            .arg(mode.name())
            .arg(need);
        let answer = tokio::time::timeout(self.settings.timeout, call.invoke_async(&mut conn));
        match answer.await {
            Ok(Ok((granted, remaining, retry, reset))) => {
                self.breaker.reset();
                Ok(reply(granted, remaining, retry, reset))
            }
            Ok(Err(e)) => {
                self.failed(own);
                Err(e.into())
            }
            Err(_) => {
                self.failed(own);
                Err(RedisError::Timeout(self.settings.timeout))
            }
        }
    }

    fn failed(&self, own: bool) {
        self.breaker.failure(
            self.settings.breaker_failures.max(1),
            self.settings.breaker_cooldown,
        );
        self.wake.notify_one();
        if own {
            LOCAL.with_borrow_mut(|v| v.retain(|l| l.link != self.id));
        }
    }

    /// The connection a request on this thread uses, and whether it is the thread's own.
    /// The keeper's connection answers until the thread has its own: made on the thread's
    /// runtime, it reads and writes Redis where the request runs, with no wakeup of another
    /// thread (which measured at about a third of the cost of a decision). A thread makes its
    /// own only while the keeper's works, so a down Redis sees no connect storm.
    fn conn_here(&self) -> Option<(Conn, bool)> {
        let shared = self.conn.load_full()?;
        let epoch = self.epoch.load(Relaxed);
        let own = LOCAL.with_borrow_mut(|v| match v.iter_mut().find(|l| l.link == self.id) {
            Some(l) if l.epoch == epoch => Some(l.conn.clone()),
            Some(l) => {
                (l.epoch, l.conn) = (epoch, None);
                None
            }
            None => {
                v.retain(|l| l.alive.strong_count() > 0);
                v.push(Local {
                    link: self.id,
                    alive: Arc::downgrade(&self.alive),
                    epoch,
                    conn: None,
                });
                None
            }
        });
        match own {
            Some(Some(conn)) => return Some((conn, true)),
            Some(None) => {} // being made
            None => self.connect_here(epoch),
        }
        Some(((*shared).clone(), false))
    }

    /// Makes this thread's own connection in a task on its runtime (outside one, it keeps
    /// using the keeper's).
    fn connect_here(&self, epoch: u64) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (id, settings, script) = (self.id, self.settings.clone(), self.script.clone());
        rt.spawn(async move {
            let made = connect(&settings, &script).await.ok();
            LOCAL.with_borrow_mut(|v| match (v.iter_mut().find(|l| l.link == id), made) {
                (Some(l), Some(conn)) if l.epoch == epoch => l.conn = Some(conn),
                // Failed, or outdated: forget it, and the next request tries again.
                _ => v.retain(|l| l.link != id),
            });
        });
    }

    /// Runs `fut` on the link's thread: refunds and lease refills nobody waits for.
    pub fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        self.runtime.spawn(fut);
    }

    /// Deletes a bucket (the admin reset).
    pub async fn delete(&self, key: &str) -> Result<(), RedisError> {
        let Some(conn) = self.conn.load_full() else {
            return Err(RedisError::NotConnected);
        };
        let mut conn = (*conn).clone();
        let mut cmd = redis::cmd("DEL");
        let del = cmd.arg(key).query_async::<i64>(&mut conn);
        match tokio::time::timeout(self.settings.timeout, del).await {
            Ok(r) => r.map(drop).map_err(RedisError::from),
            Err(_) => Err(RedisError::Timeout(self.settings.timeout)),
        }
    }

    pub fn connected(&self) -> bool {
        self.conn.load().is_some()
    }

    /// Waits, without blocking its thread, up to the connect timeout for a connection.
    pub async fn ready(&self) {
        let deadline = tokio::time::Instant::now() + self.settings.connect_timeout;
        while !self.connected() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Start-up only: waits up to the connect timeout for the first connection, so a worker
    /// does not serve its first requests on the failure policy while Redis is up.
    // Before the worker's runtime serves anything: a blocking wait is what start-up wants.
    #[allow(clippy::disallowed_methods)]
    pub fn wait_connected(&self) -> bool {
        let deadline = std::time::Instant::now() + self.settings.connect_timeout;
        while !self.connected() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.connected()
    }
}

fn reply(granted: i64, remaining: i64, retry_us: i64, reset_us: i64) -> ScriptReply {
    let ns = |us: i64| (us.max(0) as u64).saturating_mul(1_000);
    ScriptReply {
        granted: granted.max(0) as u64,
        remaining: remaining.max(0) as u64,
        retry_after: ns(retry_us),
        reset_after: ns(reset_us),
    }
}

/// Keeps a working connection in `link.conn` until the link is dropped: connects, loads the
/// script, then sleeps until a failure wakes it to check the connection with a PING.
async fn keep(link: Weak<RedisLink>) {
    let mut backoff = Duration::from_millis(50);
    let mut logged_down = false;
    loop {
        let Some(l) = link.upgrade() else { return };
        let healthy = match l.conn.load_full() {
            Some(conn) => ping(&l, &conn).await,
            None => false,
        };
        if !healthy {
            l.conn.store(None);
            match connect(&l.settings, &l.script).await {
                Ok(conn) => {
                    tracing::info!("redis: connected");
                    l.conn.store(Some(Arc::new(conn)));
                    // Threads drop their own connections, made before the failure.
                    l.epoch.fetch_add(1, Relaxed);
                    // A fresh connection that answered the script load is the best probe.
                    l.breaker.reset();
                    backoff = Duration::from_millis(50);
                    logged_down = false;
                }
                Err(e) => {
                    if !logged_down {
                        tracing::warn!("redis: cannot connect: {e}; cluster limits follow their on_redis_error policy until it answers");
                        logged_down = true;
                    }
                    drop(l);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            }
        }
        // Waits for a failure, but looks again now and then: the link may have been dropped.
        let _ = tokio::time::timeout(Duration::from_secs(1), l.wake.notified()).await;
    }
}

async fn ping(link: &RedisLink, conn: &Conn) -> bool {
    let mut conn = conn.clone();
    let cmd = redis::cmd("PING");
    let pong = cmd.query_async::<String>(&mut conn);
    matches!(
        tokio::time::timeout(link.settings.timeout.max(Duration::from_millis(200)), pong).await,
        Ok(Ok(_))
    )
}

async fn connect(s: &RedisSettings, script: &redis::Script) -> Result<Conn, RedisError> {
    let mut info = redis::IntoConnectionInfo::into_connection_info(s.url.expose())?;
    if let Some(p) = &s.password {
        let settings = info.redis_settings().clone().set_password(p.expose());
        info = info.set_redis_settings(settings);
    }
    let certs = || redis::TlsCertificates {
        client_tls: None,
        root_cert: s.ca_pem.clone(),
    };
    let connecting = async {
        if s.cluster {
            let mut builder = redis::cluster::ClusterClient::builder([info])
                .connection_timeout(s.connect_timeout)
                .response_timeout(s.connect_timeout);
            if s.ca_pem.is_some() {
                builder = builder.certs(certs());
            }
            let client = builder.build()?;
            return Ok(Conn::Cluster(client.get_async_connection().await?));
        }
        let client = match &s.ca_pem {
            Some(_) => redis::Client::build_with_tls(info, certs())?,
            None => redis::Client::open(info)?,
        };
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(s.connect_timeout))
            .set_response_timeout(Some(s.connect_timeout));
        let conn = client.get_multiplexed_async_connection_with_config(&config);
        Ok::<_, RedisError>(Conn::Single(conn.await?))
    };
    let mut conn = tokio::time::timeout(s.connect_timeout, connecting)
        .await
        .map_err(|_| RedisError::Timeout(s.connect_timeout))??;
    let invocation = script.prepare_invoke();
    tokio::time::timeout(s.connect_timeout, invocation.load_async(&mut conn))
        .await
        .map_err(|_| RedisError::Timeout(s.connect_timeout))??;
    Ok(conn)
}

/// One server's multiplexed connection, or a Redis Cluster's (which routes each bucket's
/// script to the node holding its slot, and loads the script on every node).
#[derive(Clone)]
pub enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}
