//! One child process of a stdio MCP server: started with the few inherited variables and the
//! configured ones, its pipes made non-blocking for Tokio, a pidfd that turns readable when it
//! exits, and the tasks that feed it: stdin written from a queue, stdout read as lines (each at
//! most `MAX_ANSWER` bytes), stderr read and logged (truncated lines, a few per window), so that
//! the child never blocks on a full pipe.
//!
//! The child gets `PR_SET_PDEATHSIG` = SIGKILL: a worker leaves through `process::exit` (no
//! destructor runs) or is killed by the master, and its children must not outlive it. The signal
//! follows the *thread* that forked, so children are forked by the stdio thread, which lives as
//! long as the worker (`session::RUNTIME`).

use super::super::MAX_ANSWER;
use crate::config::Launch;
use serde_json::Value;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

/// The variables a child inherits from the gateway, as the official SDKs' stdio clients do: the
/// gateway's own secrets (provider keys) are not handed to every server.
pub const INHERITED: [&str; 8] = [
    "HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "LANG", "TMPDIR",
];

/// How long a child whose stdin was closed has to exit before it is killed.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Lines a child's stdin queue holds before a request is refused.
const STDIN_QUEUE: usize = 256;

/// The longest stderr line logged; the rest is cut.
const STDERR_LINE: usize = 2048;

/// Stderr lines logged per window; more are counted and said once.
const STDERR_BURST: u32 = 20;
const STDERR_WINDOW: Duration = Duration::from_secs(10);

/// What the stdout reader hands over: one message, or why a line is not one.
pub type Line = Result<Value, String>;

/// A running child and its pipes' ends on this side.
pub struct Process {
    pub child: Child,
    /// Readable once the child has exited; none on a kernel without pidfds (then its exit is
    /// noticed by its stdout closing).
    pub pidfd: Option<AsyncFd<OwnedFd>>,
    stdin: mpsc::Sender<Vec<u8>>,
    pub stdout: mpsc::Receiver<Line>,
}

impl Process {
    /// Queues `line` (a newline is added) for the child's stdin; false when the queue is full
    /// or the child's stdin is closed.
    pub fn write(&self, line: &Value) -> bool {
        let mut bytes = line.to_string().into_bytes();
        bytes.push(b'\n');
        self.stdin.try_send(bytes).is_ok()
    }

    /// How it ended ("exit status: 1", "signal: 9 (SIGKILL)"), if it has; the child is reaped.
    pub fn status(&mut self) -> Option<String> {
        self.child.try_wait().ok().flatten().map(|s| s.to_string())
    }

    /// Kills the child (if it still runs) and reaps it off this thread.
    pub fn kill(self) {
        kill(self.child);
    }

    /// Closes the child's stdin (the stdio transport's way to ask a server to exit), gives it
    /// `CLOSE_GRACE` to do so, then kills it.
    pub async fn close(self) {
        let Process {
            child,
            pidfd,
            stdin,
            stdout,
        } = self;
        drop((stdin, stdout));
        let _ = tokio::time::timeout(CLOSE_GRACE, exited(&pidfd)).await;
        kill(child);
    }
}

fn kill(mut child: Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = child.kill();
    // SIGKILL ends it at once; the wait only collects the exit status.
    tokio::task::spawn_blocking(move || child.wait());
}

/// Starts the child of `launch`. Forks: call it on the stdio thread (see the module doc).
pub fn spawn(launch: &Launch) -> io::Result<Process> {
    let mut cmd = Command::new(&launch.program);
    cmd.args(&launch.args)
        .env_clear()
        .envs(
            INHERITED
                .iter()
                .filter_map(|k| Some((k, std::env::var_os(k)?))),
        )
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = &launch.cwd {
        cmd.current_dir(dir);
    }
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: runs in the forked child before exec; prctl, getppid and _exit are
    // async-signal-safe and touch no memory of the parent.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The worker died between the fork and the prctl: the signal will never come.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        return Err(io::Error::other("its pipes were not made"));
    };
    let pipes = (
        pipe::Sender::from_owned_fd(OwnedFd::from(stdin)),
        pipe::Receiver::from_owned_fd(OwnedFd::from(stdout)),
        pipe::Receiver::from_owned_fd(OwnedFd::from(stderr)),
    );
    let (stdin, stdout, stderr) = match pipes {
        (Ok(i), Ok(o), Ok(e)) => (i, o, e),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    let pidfd = pidfd(child.id());
    let (to_stdin, queue) = mpsc::channel(STDIN_QUEUE);
    let (lines, from_stdout) = mpsc::channel(64);
    tokio::spawn(feed(stdin, queue));
    tokio::spawn(read_stdout(stdout, lines));
    tokio::spawn(log_stderr(stderr, launch.server.clone()));
    Ok(Process {
        child,
        pidfd,
        stdin: to_stdin,
        stdout: from_stdout,
    })
}

/// Resolves when the child of `pidfd` has exited (never without a pidfd).
pub async fn exited(pidfd: &Option<AsyncFd<OwnedFd>>) {
    match pidfd {
        // Readiness is not cleared: once exited, it stays so.
        Some(fd) => drop(fd.readable().await),
        None => std::future::pending().await,
    }
}

fn pidfd(pid: u32) -> Option<AsyncFd<OwnedFd>> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` was just opened by the kernel for us and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: the AsyncFd owns `fd` (an OwnedFd, which returns the same descriptor until dropped).
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.ok()
}

/// Writes queued lines to the child's stdin until the queue is dropped (the child's stdin then
/// closes: the stdio transport's way to ask a server to exit) or the pipe breaks.
async fn feed(mut stdin: pipe::Sender, mut queue: mpsc::Receiver<Vec<u8>>) {
    while let Some(line) = queue.recv().await {
        if stdin.write_all(&line).await.is_err() {
            return;
        }
    }
}

/// Parses stdout line by line; the channel closes at its end. Blank lines are passed over.
async fn read_stdout(stdout: pipe::Receiver, lines: mpsc::Sender<Line>) {
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    loop {
        let line = match next_line(&mut reader, &mut buf, MAX_ANSWER).await {
            Ok(Some(false)) if buf.iter().all(u8::is_ascii_whitespace) => continue,
            Ok(Some(false)) => serde_json::from_slice(&buf)
                .map_err(|e| format!("bad answer: a line of its stdout is not JSON ({e})")),
            Ok(Some(true)) => Err(format!(
                "bad answer: a line of its stdout is larger than {MAX_ANSWER} bytes"
            )),
            Ok(None) | Err(_) => return,
        };
        if lines.send(line).await.is_err() {
            return;
        }
    }
}

/// Logs stderr lines, cut to `STDERR_LINE` bytes and at most `STDERR_BURST` per window.
async fn log_stderr(stderr: pipe::Receiver, server: String) {
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    let (mut window, mut logged, mut dropped) = (Instant::now(), 0u32, 0u64);
    while let Ok(Some(cut)) = next_line(&mut reader, &mut buf, STDERR_LINE).await {
        if window.elapsed() >= STDERR_WINDOW {
            if dropped > 0 {
                tracing::warn!("mcp server {server}: {dropped} more stderr lines not logged");
            }
            (window, logged, dropped) = (Instant::now(), 0, 0);
        }
        if logged >= STDERR_BURST {
            dropped += 1;
            continue;
        }
        logged += 1;
        let text = String::from_utf8_lossy(&buf);
        let more = if cut { " [cut]" } else { "" };
        tracing::warn!("mcp server {server} (stderr): {}{more}", text.trim_end());
    }
}

/// Reads the next line (without its newline) into `buf`, keeping at most `max` bytes of it and
/// reading past the rest: `Some(cut)`, or `None` at the end of the stream. A last line without
/// a newline counts.
pub async fn next_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<bool>> {
    buf.clear();
    let (mut cut, mut any) = (false, false);
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(any.then_some(cut));
        }
        any = true;
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], i + 1),
            None => (chunk, chunk.len()),
        };
        let room = max.saturating_sub(buf.len());
        cut |= part.len() > room;
        buf.extend_from_slice(&part[..part.len().min(room)]);
        let ended = done > part.len();
        r.consume(done);
        if ended {
            return Ok(Some(cut));
        }
    }
}
