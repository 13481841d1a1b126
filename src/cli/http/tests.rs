use super::*;
use crate::cli::test_server::{json_answer, serve};
use std::net::TcpListener;

fn client(url: Url) -> AdminClient {
    AdminClient::new(url, Duration::from_secs(5))
}

fn get(url: Url) -> Result<Response, HttpError> {
    client(url).send(&Request {
        method: "GET",
        path: "/admin/tenants",
        headers: &[],
        body: None,
    })
}

#[test]
fn it_sends_one_request_with_its_headers_and_body() {
    let (mut url, rx) = serve::<&[u8]>(vec![
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"name\":\"a\"}\n",
    ]);
    url.base = "/gw".into();
    let headers = [("Authorization", "Bearer t0k".to_string())];
    let resp = client(url.clone())
        .send(&Request {
            method: "POST",
            path: "/admin/tenants",
            headers: &headers,
            body: Some(b"{\"name\":\"a\"}"),
        })
        .unwrap();
    assert_eq!(resp.status, 201);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.body, b"{\"name\":\"a\"}\n");
    let req = rx.recv().unwrap();
    assert!(
        req.starts_with("POST /gw/admin/tenants HTTP/1.1\r\n"),
        "{req}"
    );
    for line in [
        &format!("Host: {}\r\n", url.authority()),
        "Connection: close\r\n",
        "Authorization: Bearer t0k\r\n",
        "Content-Type: application/json\r\n",
        "Content-Length: 12\r\n",
    ] {
        assert!(req.contains(line), "{line:?} not in {req}");
    }
    assert!(req.ends_with("\r\n\r\n{\"name\":\"a\"}"), "{req}");
}

#[test]
fn it_reads_a_chunked_body_in_pieces_with_extensions_and_trailers() {
    let (url, _rx) = serve::<&[u8]>(vec![
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[1, 2",
        b"\r\n3;ext=1\r\n, 3\r\n1",
        b"\r\n]\r\n0\r\nX-Trailer: yes\r\n\r\n",
    ]);
    let resp = get(url).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"[1, 2, 3]");
}

#[test]
fn it_reads_to_the_close_without_a_length_and_skips_interim_answers() {
    let (url, _rx) = serve::<&[u8]>(vec![
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.0 200\r\n\r\n{\"a\":",
        b"1}",
    ]);
    let resp = get(url).unwrap();
    assert_eq!(
        (resp.status, resp.body.as_slice()),
        (200, &b"{\"a\":1}"[..])
    );
}

#[test]
fn an_error_answer_is_returned_with_its_json() {
    let (url, _rx) = serve(vec![json_answer(
        404,
        r#"{"error":{"message":"no tenant \"x\"","type":"admin_error","code":404}}"#,
    )]);
    let resp = get(url).unwrap();
    assert_eq!(resp.status, 404);
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(v["error"]["message"], "no tenant \"x\"");
}

#[test]
fn no_content_has_no_body_even_before_the_close() {
    let (url, _rx) = serve::<&[u8]>(vec![b"HTTP/1.1 204 No Content\r\n\r\n"]);
    let resp = get(url).unwrap();
    assert_eq!((resp.status, resp.body.len()), (204, 0));
}

#[test]
fn a_refused_connection_names_the_url_and_the_admin_listener() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let err = get(url).unwrap_err();
    assert!(matches!(err, HttpError::Refused { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&format!("http://127.0.0.1:{port}")), "{text}");
    assert!(text.contains("admin listener must be up"), "{text}");
}

#[test]
fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = Url::parse(&listener.local_addr().unwrap().to_string()).unwrap();
    let mut c = client(url);
    c.io_timeout = Duration::from_millis(200);
    let err = c
        .send(&Request {
            method: "GET",
            path: "/",
            headers: &[],
            body: None,
        })
        .unwrap_err();
    assert!(matches!(err, HttpError::Timeout { .. }), "{err:?}");
    drop(listener);
}

#[test]
fn broken_answers_are_errors_not_panics() {
    for parts in [
        vec![&b""[..]],
        vec![&b"SSH-2.0-OpenSSH\r\n\r\n"[..]],
        vec![&b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"[..]],
        vec![&b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"[..]],
        vec![&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"[..]],
        vec![&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"[..]],
        vec![&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n"[..]],
    ] {
        let shown = String::from_utf8_lossy(parts[0]).into_owned();
        let (url, _rx) = serve(parts);
        let err = get(url).unwrap_err();
        assert!(
            matches!(err, HttpError::BadResponse { .. }),
            "{shown:?}: {err:?}"
        );
    }
}

#[test]
fn urls_parse() {
    let u = Url::parse("http://127.0.0.1:9090").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.base.as_str()),
        ("127.0.0.1", 9090, "")
    );
    let u = Url::parse("HTTP://admin.internal/gw/").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.base.as_str()),
        ("admin.internal", 80, "/gw")
    );
    let u = Url::parse("[::1]:9090").unwrap();
    assert_eq!((u.host.as_str(), u.port), ("::1", 9090));
    assert_eq!(u.to_string(), "http://[::1]:9090");
    for bad in [
        "ftp://x",
        "http://:9090",
        "http://x:port",
        "http://u:p@x:1",
        "[::1",
    ] {
        assert!(Url::parse(bad).is_err(), "{bad}");
    }
    let u = Url::parse("HTTPS://admin.internal").unwrap();
    assert_eq!((u.tls, u.port), (true, 443));
    assert_eq!(u.to_string(), "https://admin.internal:443");
    let u = Url::parse("https://127.0.0.1:9443/gw").unwrap();
    assert_eq!((u.tls, u.port, u.base.as_str()), (true, 9443, "/gw"));
    assert!(!Url::parse("127.0.0.1:1").unwrap().tls);
}

#[test]
fn a_tls_answer_to_plain_http_says_to_use_https() {
    for answer in [&b"\x15\x03\x03\x00\x02\x02\x32"[..], &b""[..]] {
        let (url, _rx) = serve(vec![answer]);
        let err = get(url).unwrap_err().to_string();
        assert!(err.contains("then use https://"), "{answer:?}: {err}");
    }
}
