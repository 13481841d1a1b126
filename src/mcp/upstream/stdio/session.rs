//! The task that owns one stdio server's child: it starts the child when a request comes and
//! none runs (after a back-off when the last one never came up), sends `initialize` and then
//! `notifications/initialized`, holds the requests that arrive meanwhile, and then writes each
//! request with an id of its own and hands each response to the request's waiter.
//!
//! What the child sends besides responses: notifications are passed over; requests get an
//! answer (`ping` an empty result, anything else "method not found": the gateway offers the
//! server no sampling, roots nor elicitation). A response to a request whose caller gave up
//! (its timeout) is dropped, and the server is told with `notifications/cancelled`.
//!
//! A child that exits, closes its stdout, writes a line that is not JSON (or is too long), or
//! does not answer `initialize` in time fails every request waiting on it with the reason, and
//! is killed; the next request starts a new one.

use super::child::{self, Line, Process};
use super::Ask;
use crate::config::Launch;
use once_cell::sync::Lazy;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// The first pause before a child that never came up is started again; it doubles with each
/// such failure, up to `MAX_BACKOFF`, and is forgotten once a child comes up.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The least time a child has to answer `initialize`, whatever the server's `timeout`: a server
/// run through `npx` or `uvx` may take that long to come up the first time. The calls waiting
/// meanwhile still give up at their own `timeout`; the next ones find the child ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an exiting child's stdout is still read (its last answers), and how long a child
/// whose stdout closed has to exit, before it is counted gone.
const WIND_DOWN: Duration = Duration::from_secs(1);

/// The thread that forks every child of this process and runs their tasks (see `child`'s doc on
/// why it must outlive them), with the pid of the process that started it.
static RUNTIME: Lazy<Result<(u32, Handle), String>> = Lazy::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot make the stdio runtime: {e}"))?;
    let handle = rt.handle().clone();
    std::thread::Builder::new()
        .name("mcp-stdio".into())
        .spawn(move || rt.block_on(std::future::pending::<()>()))
        .map_err(|e| format!("cannot start the stdio thread: {e}"))?;
    Ok((std::process::id(), handle))
});

/// Starts the task of the server of `launch` on the stdio thread; the sender of its requests.
pub(super) fn start(launch: Arc<Launch>) -> Result<mpsc::Sender<Ask>, String> {
    let (pid, handle) = RUNTIME.as_ref().map_err(Clone::clone)?;
    if *pid != std::process::id() {
        // Made before a fork: its thread is not in this process.
        return Err("the stdio thread belongs to another process".into());
    }
    let (tx, rx) = mpsc::channel(super::QUEUE);
    let task = Task {
        launch,
        asks: rx,
        next_id: 1,
        live: None,
        failures: 0,
        not_before: None,
        last_failure: String::new(),
    };
    handle.spawn(task.run());
    Ok(tx)
}

type Reply = oneshot::Sender<Result<(u64, Value), String>>;

struct Task {
    launch: Arc<Launch>,
    asks: mpsc::Receiver<Ask>,
    next_id: u64,
    live: Option<Live>,
    /// Children in a row that never came up, and when the next may start.
    failures: u32,
    not_before: Option<Instant>,
    last_failure: String,
}

/// The running child and the requests on it.
struct Live {
    process: Process,
    /// The id of `initialize` and when its answer is due, until it has come.
    init: Option<(u64, Instant)>,
    /// Requests that came before the child was initialized.
    held: Vec<Ask>,
    pending: HashMap<u64, Reply>,
    /// Its stdout has closed / it has exited (how), and when it is counted gone regardless.
    eof: bool,
    status: Option<String>,
    gone_at: Option<Instant>,
}

/// What happened to the running child.
enum Event {
    Line(Line),
    Eof,
    Exited,
    Deadline,
}

impl Task {
    async fn run(mut self) {
        loop {
            let event = tokio::select! {
                ask = self.asks.recv() => match ask {
                    Some(ask) => { self.ask(ask); continue; }
                    // No configuration holds the server any more.
                    None => break,
                },
                event = next_event(self.live.as_mut()) => event,
            };
            self.on(event);
        }
        if let Some(live) = self.live.take() {
            tokio::spawn(live.process.close());
        }
    }

    fn ask(&mut self, ask: Ask) {
        // A child on its way out (its stdout closed or its process ended) takes no more calls:
        // it is finished now, and the call goes to a new one.
        if let Some(live) = self.live.as_mut().filter(|l| l.eof || l.status.is_some()) {
            let why = live.gone();
            self.end(why);
        }
        if self.live.is_none() {
            if let Err(why) = self.launch_child(ask.timeout) {
                let _ = ask.reply.send(Err(why));
                return;
            }
        }
        let Some(live) = self.live.as_mut() else {
            return;
        };
        live.cancel_abandoned();
        if live.init.is_some() {
            live.held.push(ask);
        } else {
            live.send(&mut self.next_id, ask);
        }
    }

    /// Starts a child and sends it `initialize`, unless the back-off says not yet.
    fn launch_child(&mut self, timeout: Duration) -> Result<(), String> {
        if let Some(at) = self.not_before.filter(|at| *at > Instant::now()) {
            let wait = humantime::format_duration(Duration::from_secs(
                (at - Instant::now()).as_secs_f64().ceil() as u64,
            ));
            return Err(format!(
                "{}; not started again for {wait}",
                self.last_failure
            ));
        }
        let mut process = match child::spawn(&self.launch) {
            Ok(p) => p,
            Err(e) => {
                let why = format!("cannot start {:?}: {e}", self.launch.program);
                self.failed(why.clone());
                return Err(why);
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        let params = json!({
            "protocolVersion": super::super::VERSION,
            "capabilities": {},
            "clientInfo": { "name": "tollgate", "version": env!("CARGO_PKG_VERSION") },
        });
        let init = json!({ "jsonrpc": "2.0", "id": id, "method": "initialize", "params": params });
        if !process.write(&init) {
            let why = format!("its stdin closed at once ({})", exit(&mut process));
            process.kill();
            self.failed(why.clone());
            return Err(why);
        }
        self.live = Some(Live {
            process,
            init: Some((id, Instant::now() + timeout.max(START_TIMEOUT))),
            held: Vec::new(),
            pending: HashMap::new(),
            eof: false,
            status: None,
            gone_at: None,
        });
        Ok(())
    }

    /// A child that never came up: the next one waits.
    fn failed(&mut self, why: String) {
        let pause = FIRST_BACKOFF
            .saturating_mul(1 << self.failures.min(5))
            .min(MAX_BACKOFF);
        self.failures += 1;
        self.not_before = Some(Instant::now() + pause);
        self.last_failure = why;
    }

    fn on(&mut self, event: Event) {
        let Some(live) = self.live.as_mut() else {
            return;
        };
        let ended = match event {
            Event::Line(Ok(message)) => live.on_message(message, &mut self.next_id),
            Event::Line(Err(why)) => Some(why),
            Event::Eof => {
                live.eof = true;
                live.wind_down()
            }
            Event::Exited => {
                let status = live.process.status();
                live.status = Some(status.unwrap_or_else(|| "how is unknown".into()));
                live.wind_down()
            }
            Event::Deadline if live.init.is_some() && live.gone_at.is_none() => {
                Some("no answer to initialize in time".to_string())
            }
            Event::Deadline => Some(live.gone()),
        };
        if let Some(why) = ended {
            self.end(why);
        }
    }

    /// Fails every request on the child with `why`, and kills it.
    fn end(&mut self, why: String) {
        let Some(mut live) = self.live.take() else {
            return;
        };
        let why = if live.init.is_some() {
            let why = if why.contains("initialize") {
                why
            } else {
                format!("{why}, before it answered initialize")
            };
            self.failed(why.clone());
            why
        } else {
            self.failures = 0;
            self.not_before = None;
            why
        };
        if live.status.is_none() {
            live.status = live.process.status();
        }
        for ask in live.held.drain(..) {
            let _ = ask.reply.send(Err(why.clone()));
        }
        for (_, reply) in live.pending.drain() {
            let _ = reply.send(Err(why.clone()));
        }
        live.process.kill();
    }
}

impl Live {
    /// Handles one message of the child; why the child is finished, if it is.
    fn on_message(&mut self, message: Value, next_id: &mut u64) -> Option<String> {
        if let Some(method) = message.get("method").and_then(Value::as_str) {
            if let Some(id) = message.get("id") {
                let answer = if method == "ping" {
                    json!({ "jsonrpc": "2.0", "id": id, "result": {} })
                } else {
                    let e = json!({ "code": -32601, "message": format!("the gateway does not offer {method}") });
                    json!({ "jsonrpc": "2.0", "id": id, "error": e })
                };
                self.process.write(&answer);
            }
            return None;
        }
        // A response to none of ours (our ids are numbers) is passed over.
        let id = message.get("id").and_then(Value::as_u64)?;
        match self.init {
            Some((init, _)) if init == id => self.initialized(message, next_id),
            _ => {
                if let Some(reply) = self.pending.remove(&id) {
                    let _ = reply.send(Ok((id, message)));
                }
                None
            }
        }
    }

    /// The answer to `initialize`: the held requests go out, or the child is finished.
    fn initialized(&mut self, message: Value, next_id: &mut u64) -> Option<String> {
        let (id, _) = self.init?;
        if let Err(why) = super::super::response(Some(message), id) {
            return Some(format!("initialize failed: {why}"));
        }
        self.init = None;
        let note = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        self.process.write(&note);
        // Those whose callers gave up while the child came up are not sent.
        for ask in std::mem::take(&mut self.held) {
            if !ask.reply.is_closed() {
                self.send(next_id, ask);
            }
        }
        None
    }

    fn send(&mut self, next_id: &mut u64, ask: Ask) {
        let id = *next_id;
        *next_id += 1;
        let message =
            json!({ "jsonrpc": "2.0", "id": id, "method": ask.method, "params": ask.params });
        if self.process.write(&message) {
            self.pending.insert(id, ask.reply);
        } else {
            let why = "its stdin is not taking requests (full or closed)".to_string();
            let _ = ask.reply.send(Err(why));
        }
    }

    /// Forgets the requests whose callers gave up, and tells the server.
    fn cancel_abandoned(&mut self) {
        let gone: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, r)| r.is_closed())
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.pending.remove(&id);
            let params = json!({ "requestId": id, "reason": "the gateway's timeout" });
            let note =
                json!({ "jsonrpc": "2.0", "method": "notifications/cancelled", "params": params });
            self.process.write(&note);
        }
    }

    /// After its stdout closed or it exited: gone once both happened, else soon.
    fn wind_down(&mut self) -> Option<String> {
        if self.eof && self.status.is_some() {
            return Some(self.gone());
        }
        if self.gone_at.is_none() {
            self.gone_at = Some(Instant::now() + WIND_DOWN);
        }
        None
    }

    fn gone(&mut self) -> String {
        match (&self.status, self.eof) {
            (Some(status), _) => format!("its process ended ({status})"),
            (None, true) => "it closed its stdout".to_string(),
            (None, false) => "its process ended".to_string(),
        }
    }
}

/// How the process ended, for a message.
fn exit(process: &mut Process) -> String {
    process.status().unwrap_or_else(|| "still running".into())
}

/// The next thing that happens to the running child; never, when there is none.
async fn next_event(live: Option<&mut Live>) -> Event {
    let Some(live) = live else {
        return std::future::pending().await;
    };
    let deadline = live.gone_at.or(live.init.map(|(_, at)| at));
    let sleep = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    let (eof, exited) = (live.eof, live.status.is_some());
    let process = &mut live.process;
    tokio::select! {
        line = process.stdout.recv(), if !eof => match line {
            Some(line) => Event::Line(line),
            None => Event::Eof,
        },
        _ = child::exited(&process.pidfd), if !exited => Event::Exited,
        _ = sleep => Event::Deadline,
    }
}
