//! systemd's sd_notify protocol: a datagram to `$NOTIFY_SOCKET`, nothing when it is unset.

use std::os::unix::net::UnixDatagram;

pub fn send(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let result = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|a| sock.send_to_addr(state.as_bytes(), &a))
    } else {
        sock.send_to(state.as_bytes(), &path)
    };
    if let Err(e) = result {
        tracing::debug!("sd_notify {state:?} failed: {e}");
    }
}

/// `RELOADING=1` with the monotonic timestamp that `Type=notify-reload` expects.
pub fn reloading() {
    let usec = crate::base::clock::now_ns() / 1000;
    send(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"));
}
