"""Both ends of a WebSocket conversation through the gateway, on the `websockets` package
(tests/it/websocket.rs runs it):

  websocket_peer.py server EVENTS
      An echo server on a free loopback port (printed on the first line of stdout). Every
      message comes back as it came (text as text, binary as binary). The text `stream` starts
      an endless stream of `tick N` messages beside the echo; `stream-then-close` sends 20
      ticks, then closes with 4000 "server bye"; `stream-then-drop` sends 5 ticks, then drops
      the TCP connection with no close frame. How each connection ended is appended to
      EVENTS as one JSON line: {"path", "code", "reason", "clean"} (`clean`: the close
      handshake completed, both close frames crossed the gateway).

  websocket_peer.py client URL [--ca FILE] SCENARIO
      One connection to URL (ws:// or wss://, trusting only FILE), one scenario, asserting what
      arrived; prints one JSON line on success and exits non-zero on any failure:
        echo          text, binary, and large (1 MiB text, 4 MiB binary) messages both ways,
                      then a normal close
        client-close  the client closes (4001 "client bye") while the server streams
        server-close  the server closes (4000 "server bye") mid-stream; the client answers
        drop          the client drops the TCP connection mid-stream, with no close frame
        server-drop   the server drops the TCP connection mid-stream: the client sees the end
        idle          one echo, then nothing from either side: the client waits for the end
                      (the gateway's upstream read timeout), and reports how long it took
"""

import argparse
import asyncio
import json
import os
import ssl
import sys
import time

import websockets
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.asyncio.client import connect

LARGE = 16 << 20


def record(events, **fields):
    with open(events, "a") as f:
        f.write(json.dumps(fields) + "\n")


async def handle(ws, events):
    ticker = None

    async def ticks(limit):
        n = 0
        while limit is None or n < limit:
            await ws.send("tick %d" % n)
            n += 1
            # Lets the echo and a close frame in between ticks.
            await asyncio.sleep(0.001)

    try:
        async for message in ws:
            if message == "stream" and ticker is None:
                ticker = asyncio.create_task(ticks(None))
            elif message == "stream-then-close":
                await ticks(20)
                await ws.close(4000, "server bye")
                break
            elif message == "stream-then-drop":
                await ticks(5)
                ws.transport.abort()
                break
            else:
                await ws.send(message)
    except ConnectionClosed:
        pass
    finally:
        if ticker is not None:
            ticker.cancel()
        await ws.wait_closed()
        rcvd = ws.protocol.close_rcvd
        sent = ws.protocol.close_sent
        record(
            events,
            path=ws.request.path,
            code=rcvd.code if rcvd else None,
            reason=rcvd.reason if rcvd else None,
            clean=rcvd is not None and sent is not None,
        )


async def run_server(events):
    async with serve(
        lambda ws: handle(ws, events), "127.0.0.1", 0, max_size=LARGE, compression=None
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await server.serve_forever()


def check(cond, what):
    if not cond:
        raise SystemExit("FAILED: " + what)


async def recv(ws, timeout=20):
    return await asyncio.wait_for(ws.recv(), timeout)


async def scenario_echo(ws):
    for message in ["hello through the gateway", b"\x00\x01\xfe\xff", "x" * (1 << 20),
                    os.urandom(4 << 20), "and again"]:
        await ws.send(message)
        got = await recv(ws)
        check(type(got) is type(message), "echo kept the type of %r" % type(message))
        check(got == message, "echo of %d bytes came back the same" % len(message))
    await ws.close()
    return {"close_code": ws.protocol.close_rcvd.code if ws.protocol.close_rcvd else None}


async def scenario_client_close(ws):
    await ws.send("stream")
    ticks = [m for m in [await recv(ws) for _ in range(10)] if m.startswith("tick")]
    check(len(ticks) >= 9, "the stream started")
    await ws.close(4001, "client bye")
    check(ws.protocol.close_rcvd is not None, "the server's close frame came back through the gateway")
    check(ws.protocol.close_rcvd.code == 4001, "the server echoed the close code")
    return {"close_code": ws.protocol.close_rcvd.code}


async def scenario_server_close(ws):
    await ws.send("stream-then-close")
    got = []
    try:
        while True:
            got.append(await recv(ws))
    except ConnectionClosed:
        # 4000 is not a "normal" code, so it is ConnectionClosedError: the frames tell.
        pass
    check(got == ["tick %d" % n for n in range(20)], "every tick before the close: %r" % got)
    rcvd = ws.protocol.close_rcvd
    check(rcvd is not None and rcvd.code == 4000 and rcvd.reason == "server bye",
          "the server's close frame: %r" % (rcvd,))
    check(ws.protocol.close_sent is not None, "the client answered the close")
    return {"close_code": rcvd.code, "reason": rcvd.reason}


async def scenario_drop(ws):
    await ws.send("stream")
    for _ in range(5):
        check((await recv(ws)).startswith("tick"), "the stream started")
    # No close frame (nor TLS close_notify): the socket just goes.
    ws.transport.abort()
    return {}


async def scenario_server_drop(ws):
    await ws.send("stream-then-drop")
    got = []
    try:
        while True:
            got.append(await recv(ws))
    except ConnectionClosed:
        pass
    check(got == ["tick %d" % n for n in range(5)], "every tick before the drop: %r" % got)
    check(ws.protocol.close_rcvd is None, "no close frame came: the server sent none")
    return {}


async def scenario_idle(ws):
    await ws.send("hello")
    check(await recv(ws) == "hello", "the echo")
    t0 = time.monotonic()
    try:
        await recv(ws, timeout=30)
        check(False, "a message came while both sides were idle")
    except ConnectionClosed:
        pass
    return {"idle_seconds": round(time.monotonic() - t0, 2)}


SCENARIOS = {
    "echo": scenario_echo,
    "client-close": scenario_client_close,
    "server-close": scenario_server_close,
    "drop": scenario_drop,
    "server-drop": scenario_server_drop,
    "idle": scenario_idle,
}


# The asyncio client, not the threaded one: the threaded client reads its TLS socket on one
# thread while it writes the request on another, and with TLS 1.3 that write can wait for a
# read that never comes (seen as a handshake whose request never reached the gateway).
async def run_client(url, ca, scenario):
    context = None
    if url.startswith("wss://"):
        context = ssl.create_default_context(cafile=ca)
    async with connect(url, ssl=context, max_size=LARGE, compression=None, open_timeout=20,
                       close_timeout=20) as ws:
        summary = await SCENARIOS[scenario](ws)
    summary.update(scenario=scenario, websockets=websockets.__version__)
    print(json.dumps(summary), flush=True)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="role", required=True)
    s = sub.add_parser("server")
    s.add_argument("events")
    c = sub.add_parser("client")
    c.add_argument("url")
    c.add_argument("--ca")
    c.add_argument("scenario", choices=sorted(SCENARIOS))
    args = p.parse_args()
    if args.role == "server":
        asyncio.run(run_server(args.events))
    else:
        asyncio.run(run_client(args.url, args.ca, args.scenario))


if __name__ == "__main__":
    sys.exit(main())
