#!/usr/bin/env python3
"""The clients of loadtest/run.sh's `idle` and `sse` cases (issue 17, point 4).

`idle`: opens N keep-alive connections to a proxy (spread over several 127.0.0.x source
addresses, so the ports of one address never run short), sends one `GET /small` on each and
checks the answer, holds them all for a while, checks that every one is still open, sends a
second request on a sample of them, and reads the resident memory (VmRSS) and the open
descriptors of every worker process before, once all are open, and after the hold.

`sse`: starts N streamed chat requests (`"stream": true`) at once, each on its own connection,
and requires every stream to answer 200 `text/event-stream`, carry no error event and end with
`data: [DONE]`; it records the time to the first byte of each answer, how many streams were
open at the same moment, and the workers' memory before and at their peak (VmHWM).

Both print `key=value` lines on stdout for run.sh to read (no other output there); progress
goes to stderr. Plain asyncio over non-blocking sockets: no package beyond Python 3.8's
standard library, and a few kB per connection, so the client stays far below the proxy's
footprint. Exits 0 when it ran to the end (the verdict is run.sh's), 2 on bad arguments.
"""

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from collections import Counter

# Linux: bind() chooses no port; connect() then picks one free for the 4-tuple, so each source
# address offers the whole ephemeral range to every destination.
IP_BIND_ADDRESS_NO_PORT = 24


def note(msg):
    print(f"[conns] {msg}", file=sys.stderr, flush=True)


def proc_status(pid):
    """(VmRSS kB, VmHWM kB, open descriptors) of a process; None where unreadable."""
    rss = hwm = fds = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    return rss, hwm, fds


def snapshot(pids):
    return {pid: proc_status(pid) for pid in pids}


class HttpError(Exception):
    """An answer that is not the one expected; its text names what was wrong."""


class Conn:
    """One client connection: a non-blocking socket and what has been read but not used."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.first_byte = None  # monotonic time of the first byte of the current answer

    @classmethod
    async def open(cls, host, port, src):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((src, 0))
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    async def send(self, data):
        self.first_byte = None
        await asyncio.get_running_loop().sock_sendall(self.sock, data)

    async def fill(self):
        data = await asyncio.get_running_loop().sock_recv(self.sock, 65536)
        if not data:
            raise HttpError("connection closed by the proxy")
        if self.first_byte is None:
            self.first_byte = time.monotonic()
        self.buf += data

    async def until(self, sep):
        while (i := self.buf.find(sep)) < 0:
            if len(self.buf) > 65536:
                raise HttpError("answer head or chunk line over 64 KiB")
            await self.fill()
        out = bytes(self.buf[: i + len(sep)])
        del self.buf[: i + len(sep)]
        return out

    async def exactly(self, n):
        while len(self.buf) < n:
            await self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def response(self):
        """(status, headers as a lower-cased dict, body) of one HTTP/1.1 answer."""
        head = (await self.until(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        try:
            status = int(head[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            raise HttpError(f"bad status line {head[0]!r}")
        headers = {}
        for line in head[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                size = int((await self.until(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    while await self.until(b"\r\n") != b"\r\n":  # trailers, then the end
                        pass
                    break
                body += await self.exactly(size)
                await self.exactly(2)
            return status, headers, bytes(body)
        if "content-length" in headers:
            return status, headers, await self.exactly(int(headers["content-length"]))
        raise HttpError("answer without Content-Length or chunked body on a keep-alive connection")

    def state(self):
        """'open', 'closed' (the proxy closed it), 'reset', or 'data' (bytes nobody asked for)."""
        try:
            got = self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return "open"
        except ConnectionError:
            return "reset"
        return "data" if got else "closed"

    def close(self):
        self.sock.close()


def reason(e):
    """A short, countable name for a failure."""
    if isinstance(e, HttpError):
        return str(e)
    if isinstance(e, asyncio.TimeoutError):
        return "timed out"
    return f"{type(e).__name__}: {e}"


def emit(key, value):
    print(f"{key}={value}", flush=True)


def emit_workers(before, after, middle=None):
    """One line per worker, `worker.PID=RSS-BEFORE RSS-AFTER FDS-BEFORE FDS-AFTER HWM RSS-MIDDLE`
    (kB and counts; `-` where /proc could not be read)."""
    for pid in before:
        b, a = before[pid], after[pid]
        m = middle[pid][0] if middle else None
        cols = (b[0], a[0], b[2], a[2], a[1], m)
        emit(f"worker.{pid}", " ".join("-" if v is None else str(v) for v in cols))


def emit_failures(failures):
    emit("failed", sum(failures.values()))
    for i, (why, n) in enumerate(failures.most_common(3)):
        emit(f"failure.{i}", f"{n} x {why}")


def is_error(data):
    """Whether one `data:` payload is an error event (`{"error": ...}`)."""
    try:
        return "error" in json.loads(data)
    except ValueError:
        return data != "[DONE]"  # neither JSON nor the end: not a chunk a client can use


def percentile(xs, p):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


async def idle(a):
    req = f"GET {a.path} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\n\r\n".encode()
    expected = a.expect.encode().decode("unicode_escape").encode()
    pids = [int(p) for p in a.pids.split(",")]
    before = snapshot(pids)
    failures = Counter()
    conns = []
    gate = asyncio.Semaphore(a.concurrency)

    async def one(i):
        async with gate:
            c = None
            try:
                c = await asyncio.wait_for(Conn.open(a.host, a.port, a.src[i % len(a.src)]), a.timeout)
                await c.send(req)
                status, _, body = await asyncio.wait_for(c.response(), a.timeout)
                if status != 200 or body != expected:
                    raise HttpError(f"answer {status} {body[:40]!r}")
                conns.append(c)
            except Exception as e:  # noqa: BLE001 - every failure is counted by its reason
                failures[reason(e)] += 1
                if c:
                    c.close()

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(a.n)))
    opened = time.monotonic() - t0
    note(f"{len(conns)} of {a.n} connections open in {opened:.1f}s; holding {a.hold}s")
    opened_snap = snapshot(pids)
    await asyncio.sleep(a.hold)  # the hold itself is what is measured, not a synchronisation
    states = Counter(c.state() for c in conns)
    held = snapshot(pids)

    # The second request, on every k-th connection still open.
    live = [c for c in conns if c.state() == "open"]
    sample = live[:: max(1, len(live) // a.sample)][: a.sample] if a.sample else []
    served = 0

    async def again(c):
        nonlocal served
        async with gate:
            try:
                await c.send(req)
                status, _, body = await asyncio.wait_for(c.response(), a.timeout)
                if status == 200 and body == expected:
                    served += 1
                else:
                    failures[f"second request: answer {status} {body[:40]!r}"] += 1
            except Exception as e:  # noqa: BLE001
                failures["second request: " + reason(e)] += 1

    await asyncio.gather(*(again(c) for c in sample))
    for c in conns:
        c.close()

    emit("connections", a.n)
    emit("opened", len(conns))
    emit("open_seconds", f"{opened:.1f}")
    emit("still_open", states["open"])
    emit("closed_by_proxy", states["closed"] + states["reset"])
    emit("unexpected_data", states["data"])
    emit("sampled", len(sample))
    emit("served_again", served)
    emit_failures(failures)
    emit_workers(before, held, opened_snap)


async def sse(a):
    pids = [int(p) for p in a.pids.split(",")]
    before = snapshot(pids)
    body = json.dumps(
        {"model": a.model, "stream": True, "messages": [{"role": "user", "content": a.content}]}
    ).encode()
    req = (
        f"POST {a.path} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    failures = Counter()
    ttfb, durations = [], []
    done = 0
    in_flight = peak = 0
    gate = asyncio.Semaphore(a.concurrency)

    async def one(i):
        nonlocal done, in_flight, peak
        c = None
        counted = False
        try:
            async with gate:  # bounds the connects under way, not the streams
                c = await asyncio.wait_for(Conn.open(a.host, a.port, a.src[i % len(a.src)]), a.timeout)
            t0 = time.monotonic()
            await c.send(req)
            in_flight += 1
            counted = True
            peak = max(peak, in_flight)
            status, headers, payload = await asyncio.wait_for(c.response(), a.timeout)
            if c.first_byte is not None:
                ttfb.append(c.first_byte - t0)
            if status != 200:
                raise HttpError(f"answer {status} {payload[:60]!r}")
            if not headers.get("content-type", "").startswith("text/event-stream"):
                raise HttpError(f"content-type {headers.get('content-type')!r}")
            data = [
                line[5:].strip()
                for line in payload.decode("utf-8", "replace").split("\n")
                if line.startswith("data:")
            ]
            if any(is_error(d) for d in data):
                raise HttpError("an error event in the stream")
            if not data or data[-1] != "[DONE]":
                raise HttpError("stream did not end with data: [DONE]")
            if len(data) < 3:
                raise HttpError(f"only {len(data)} events")
            durations.append(time.monotonic() - t0)
            done += 1
        except Exception as e:  # noqa: BLE001 - every failure is counted by its reason
            failures[reason(e)] += 1
        finally:
            if counted:
                in_flight -= 1
            if c:
                c.close()

    t0 = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(a.n)))
    wall = time.monotonic() - t0
    after = snapshot(pids)
    emit("streams", a.n)
    emit("completed", done)
    emit_failures(failures)
    emit("peak_concurrent", peak)
    emit("wall_seconds", f"{wall:.1f}")
    emit("ttfb_p50_ms", f"{percentile(ttfb, 50) * 1000:.1f}")
    emit("ttfb_p99_ms", f"{percentile(ttfb, 99) * 1000:.1f}")
    emit("duration_p50_s", f"{percentile(durations, 50):.2f}")
    emit("duration_max_s", f"{max(durations, default=0):.2f}")
    emit_workers(before, after)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="case", required=True)
    for name in ("idle", "sse"):
        s = sub.add_parser(name)
        s.add_argument("--host", default="127.0.0.1")
        s.add_argument("--port", type=int, required=True)
        s.add_argument("--n", type=int, required=True, help="connections (idle) or streams (sse)")
        s.add_argument("--pids", required=True, help="worker pids, comma-separated")
        s.add_argument("--src", default="127.0.0.1", help="source addresses, comma-separated")
        s.add_argument("--concurrency", type=int, default=256, help="connects under way at once")
        s.add_argument("--timeout", type=float, default=60, help="seconds for a connect or an answer")
        s.add_argument("--path", required=True)
    sub.choices["idle"].add_argument("--hold", type=float, required=True)
    sub.choices["idle"].add_argument("--sample", type=int, default=1000)
    sub.choices["idle"].add_argument("--expect", required=True, help="the body of every answer")
    sub.choices["sse"].add_argument("--model", required=True)
    sub.choices["sse"].add_argument("--content", required=True)
    a = p.parse_args()
    a.src = a.src.split(",")
    if a.n < 1 or a.concurrency < 1:
        p.error("--n and --concurrency must be at least 1")
    asyncio.run(idle(a) if a.case == "idle" else sse(a))


if __name__ == "__main__":
    main()
