//! The stdio transport, for an `[[mcp_servers]]` entry with a `command`: the server is a child
//! process of the worker, spoken to with newline-delimited JSON-RPC on its stdin and stdout (the
//! MCP stdio transport).
//!
//! - Each worker process has its own child, started on the first request (not at start-up: a
//!   server nobody calls costs nothing), by the worker's stdio thread (`runtime`), which owns
//!   every child of the process and the tasks reading and writing their pipes.
//! - A `Server` is shared by every configuration that launches the server alike (the same
//!   `Launch`: name, command, env, cwd): the catalog is rebuilt on each reload and each change
//!   of the store, and the child survives that. When no configuration holds the `Server` any
//!   more, its child's stdin is closed and the child killed.
//! - One task per server (`session`) owns the child: it initializes it once, multiplexes the
//!   requests by JSON-RPC id, and fails the calls waiting on a child that dies or writes garbage;
//!   the next request starts a new child, after a back-off if the last one never came up.

mod child;
mod session;

use crate::config::Launch;
use once_cell::sync::{Lazy, OnceCell};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Requests a server's task holds before refusing more.
const QUEUE: usize = 1024;

/// A request for a server's task: the reply is the JSON-RPC response and its id.
struct Ask {
    method: String,
    params: Value,
    /// The caller's bound; a child started for this request gets at least as long to answer
    /// `initialize` (`session::START_TIMEOUT`).
    timeout: Duration,
    reply: oneshot::Sender<Result<(u64, Value), String>>,
}

/// One stdio server of this worker (see the module doc).
pub struct Server {
    launch: Arc<Launch>,
    /// The server's task, started on the first request; dropping this ends it.
    task: OnceCell<Result<mpsc::Sender<Ask>, String>>,
}

// The registry is locked for a lookup while a snapshot is built (a reload, a change of the
// store), never per request nor across an await.
#[allow(clippy::disallowed_types)]
type Registry = std::sync::Mutex<HashMap<Arc<Launch>, Weak<Server>>>;

static REGISTRY: Lazy<Registry> = Lazy::new(Default::default);

impl Server {
    /// The server of `launch`: this process's running one if a configuration still holds it.
    pub fn of(launch: &Arc<Launch>) -> Arc<Server> {
        let mut map = REGISTRY
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.retain(|_, s| s.strong_count() > 0);
        if let Some(s) = map.get(launch).and_then(Weak::upgrade) {
            return s;
        }
        let s = Arc::new(Server {
            launch: launch.clone(),
            task: OnceCell::new(),
        });
        map.insert(launch.clone(), Arc::downgrade(&s));
        s
    }

    /// Sends `method` and gives the result of its response, or why there is none. The caller
    /// bounds the wait with `timeout`.
    pub async fn request(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, String> {
        let task = self
            .task
            .get_or_init(|| session::start(self.launch.clone()))
            .as_ref()
            .map_err(Clone::clone)?;
        let (reply, answer) = oneshot::channel();
        let ask = Ask {
            method: method.to_string(),
            params,
            timeout,
            reply,
        };
        task.try_send(ask)
            .map_err(|_| format!("more than {QUEUE} requests are waiting for it"))?;
        let (id, message) = answer
            .await
            .map_err(|_| "its session ended".to_string())??;
        super::response(Some(message), id)
    }
}

#[cfg(test)]
mod tests;
