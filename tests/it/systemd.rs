//! The sd_notify protocol as `Type=notify` expects it, against a datagram socket of the test.

use crate::common;
use common::*;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = sock
        .recv(&mut buf)
        .expect("a notification within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn ready_reloading_and_stopping_are_notified() {
    let upstream = Upstream::named("a");
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let (port, admin) = (free_port(), free_port());
    let text = format!(
        "{}\n[[upstreams]]\nname = \"a\"\ntargets = [\"{}\"]\n[[routes]]\nname = \"a\"\nupstream = \"a\"\n",
        base_config(port, admin, 2, ""),
        upstream.addr()
    )
    .replace("ACCESS_LOG", "off");
    let conf = dir.path().join("t.toml");
    std::fs::write(&conf, text).unwrap();
    // Killed with its workers when dropped, so a failed assertion does not leave it running.
    let mut gateway = Running(Some(
        Command::new(binary())
            .args(["run", "-c"])
            .arg(&conf)
            .env("NOTIFY_SOCKET", &sock_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    let pid = gateway.child().id() as i32;
    assert_eq!(recv(&sock), "READY=1");
    // Ready means serving: a request goes through right away.
    assert_eq!(raw_get(port, "/", &[]).map(|r| r.0), Some(200));

    unsafe { libc::kill(pid, libc::SIGHUP) };
    assert!(recv(&sock).starts_with("RELOADING=1\nMONOTONIC_USEC="));
    assert_eq!(recv(&sock), "READY=1");

    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(recv(&sock), "STOPPING=1");
    let child = gateway.child();
    let status = wait_for("the master to exit", Duration::from_secs(20), || {
        child.try_wait().unwrap()
    });
    assert_eq!(status.code(), Some(0));
}
