//! Idle upstream connections of the lean path, kept per thread in the thread's event loop:
//! no task, timer or lock per connection. A worker's runtimes are current-thread ones, so a
//! connection is only ever used on the thread that made it.
//!
//! A connection is checked when it is taken (past its idle time, closed by the server, or
//! holding bytes nobody asked for: closed, and the next one tried); one the server closes
//! while idle stays open on this side until it is taken or pushed out by newer ones.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

struct Idle {
    addr: SocketAddr,
    stream: TcpStream,
    since: Instant,
}

thread_local! {
    static IDLE: RefCell<VecDeque<Idle>> = const { RefCell::new(VecDeque::new()) };
}

/// The most recently released live connection to `addr`, if any.
pub fn take(addr: SocketAddr, max_idle: Duration) -> Option<TcpStream> {
    IDLE.with_borrow_mut(|idle| {
        while let Some(i) = idle.iter().rposition(|c| c.addr == addr) {
            let c = idle.remove(i)?;
            if c.since.elapsed() < max_idle && is_quiet(&c.stream) {
                return Some(c.stream);
            }
        }
        None
    })
}

/// Keeps `stream` for reuse; the oldest connection is closed when `max` are kept already.
pub fn put(addr: SocketAddr, stream: TcpStream, max: usize) {
    if max == 0 {
        return;
    }
    IDLE.with_borrow_mut(|idle| {
        if idle.len() >= max {
            idle.pop_front();
        }
        idle.push_back(Idle {
            addr,
            stream,
            since: Instant::now(),
        });
    });
}

/// Open, and nothing to read: the only state a reused connection may be in.
fn is_quiet(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    async fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (client.unwrap(), accepted.unwrap().0)
    }

    #[tokio::test]
    async fn only_live_quiet_connections_to_the_peer_are_handed_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let long = Duration::from_secs(60);
        let (closed, server_side) = pair(&listener).await;
        drop(server_side);
        let (chatty, mut server_chatty) = pair(&listener).await;
        server_chatty.write_all(b"x").await.unwrap();
        let (live, _server_live) = pair(&listener).await;
        // Let the close and the stray byte arrive, as they would while the connections idle.
        let mut rd = [0u8; 1];
        while closed.try_read(&mut rd).is_err() {
            closed.readable().await.unwrap();
        }
        chatty.readable().await.unwrap();
        put(addr, live, 8);
        put(addr, chatty, 8);
        put(addr, closed, 8);
        assert!(take("127.0.0.1:1".parse().unwrap(), long).is_none());
        assert!(
            take(addr, long).is_some(),
            "the live one, past the two bad ones"
        );
        assert!(take(addr, long).is_none());
    }

    #[tokio::test]
    async fn the_oldest_goes_when_full_and_old_ones_are_not_reused() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut servers = Vec::new();
        for _ in 0..3 {
            let (c, s) = pair(&listener).await;
            servers.push(s);
            put(addr, c, 2);
        }
        assert_eq!(IDLE.with_borrow(|i| i.len()), 2);
        assert!(take(addr, Duration::ZERO).is_none(), "past their idle time");
        assert_eq!(IDLE.with_borrow(|i| i.len()), 0, "and closed");
    }
}
