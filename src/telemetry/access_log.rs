//! The access log: one JSON line per request (the call record, `telemetry::record`), written
//! through the per-thread buffers and writer thread of `telemetry::batch`, to stdout, stderr
//! or a file that SIGUSR1 reopens (for logrotate).

use crate::config::AccessLogTarget;
use crate::telemetry::batch::{Batcher, Lost, Sink, SinkStats, BATCH_BYTES};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct AccessLog {
    batcher: Option<Batcher>,
}

impl AccessLog {
    /// Starts the writer thread; `Off` gives a log that accepts and discards.
    pub fn start(
        target: &AccessLogTarget,
        queue: usize,
        stats: Arc<SinkStats>,
    ) -> std::io::Result<Self> {
        let sink = match target {
            AccessLogTarget::Off => return Ok(AccessLog { batcher: None }),
            AccessLogTarget::Stdout => Lines::new(Box::new(std::io::stdout()), None),
            AccessLogTarget::Stderr => Lines::new(Box::new(std::io::stderr()), None),
            AccessLogTarget::File(p) => Lines::new(Box::new(open(p)?), Some(p.clone())),
        };
        Self::with_sink(sink, queue, BATCH_BYTES, stats)
    }

    fn with_sink(
        sink: Lines,
        queue: usize,
        batch_bytes: usize,
        stats: Arc<SinkStats>,
    ) -> std::io::Result<Self> {
        let batcher = Batcher::start("access-log", sink, queue, batch_bytes, stats)?;
        Ok(AccessLog {
            batcher: Some(batcher),
        })
    }

    pub fn enabled(&self) -> bool {
        self.batcher.is_some()
    }

    /// Adds one line to this thread's buffer: `format` appends it (without the newline) and
    /// says whether it could.
    pub fn write(&self, format: impl FnOnce(&mut Vec<u8>) -> bool) {
        if let Some(b) = &self.batcher {
            b.push(format);
        }
    }

    /// Asks the writer to open the file's path again (after logrotate moved the file): lines
    /// written before go to the old file, lines after to the new one. Returns at once.
    pub fn reopen(&self) {
        if let Some(b) = &self.batcher {
            b.reopen();
        }
    }

    /// Waits (up to `timeout`) until every line written so far is in the sink; used before
    /// exit.
    pub fn flush(&self, timeout: Duration) {
        if let Some(b) = &self.batcher {
            b.flush(timeout);
        }
    }
}

/// Opens the access log file for appending, creating it if needed.
// On the writer thread, or when a worker starts: never on a request thread.
#[allow(clippy::disallowed_methods)]
fn open(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// The writer's side: a stream of lines, and the file's path when it is a file.
struct Lines {
    out: Box<dyn Write + Send>,
    path: Option<PathBuf>,
    /// The last write stopped inside a line: the next batch starts on a new line.
    mid_line: bool,
}

impl Lines {
    fn new(out: Box<dyn Write + Send>, path: Option<PathBuf>) -> Self {
        Lines {
            out,
            path,
            mid_line: false,
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> (usize, std::io::Result<()>) {
        let mut written = 0;
        let result = loop {
            if written == bytes.len() {
                break self.out.flush();
            }
            match self.out.write(&bytes[written..]) {
                Ok(0) => break Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        (written, result)
    }
}

impl Sink for Lines {
    const FAILURE: &'static str = "cannot write the access log";
    const DROPPED_METRIC: &'static str = "tollgate_access_log_dropped_total";

    /// Writes the lines and flushes; the lines not (wholly) written are lost.
    fn write(&mut self, records: &[u8]) -> Result<(), Lost> {
        if self.mid_line {
            let (_, result) = self.write_all(b"\n");
            if let Err(e) = result {
                return Err(Lost {
                    error: e.to_string(),
                    records: count_lines(records),
                });
            }
            self.mid_line = false;
        }
        let (written, result) = self.write_all(records);
        let unwritten = &records[written..];
        self.mid_line = written > 0 && !unwritten.is_empty();
        result.map_err(|e| Lost {
            error: e.to_string(),
            records: count_lines(unwritten),
        })
    }

    /// Writes to a newly opened `path` from now on; when it cannot be opened, keeps the old
    /// file and says so.
    fn reopen(&mut self) {
        let Some(path) = &self.path else { return };
        match open(path) {
            Ok(file) => {
                self.out = Box::new(file);
                tracing::info!("access log reopened: {}", path.display());
            }
            Err(e) => tracing::error!(
                "cannot reopen the access log {}: {e}; writing on to the file already open",
                path.display()
            ),
        }
    }
}

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

#[cfg(test)]
mod tests;
