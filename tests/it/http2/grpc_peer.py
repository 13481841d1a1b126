"""gRPC peers for tests/it/grpc.rs, on the pinned grpcio with generic handlers (raw bytes, no
generated code).

  server PORT_FILE MARK_DIR   serves test.Echo:
                                Unary   answers "echo:" + the request
                                Stream  answers N messages (N is the request)
                                Fail    fails NOT_FOUND "no such thing" before any message
                                Die     sends two messages, then fails UNAVAILABLE mid-stream
                                Slow    sends a message every 50ms for a minute; writes
                                        MARK_DIR/cancelled when its client goes away
  client TARGET SCENARIO [CA]  runs one scenario against TARGET (host:port; over TLS when CA,
                               a PEM file, is given) and prints one JSON object
"""

import json
import os
import sys
import time
from concurrent import futures

import grpc


def serve(port_file, mark_dir):
    def unary(req, ctx):
        return b"echo:" + req

    def stream(req, ctx):
        for i in range(int(req)):
            yield b"msg%d" % i

    def fail(req, ctx):
        ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing")

    def die(req, ctx):
        yield b"one"
        yield b"two"
        ctx.abort(grpc.StatusCode.UNAVAILABLE, "going away mid-stream")

    def slow(req, ctx):
        # The mark is written from the termination callback: when the cancel lands while a
        # message is being sent, grpcio stops iterating this generator, so code after the
        # loop would never run.
        finished = []

        def on_termination():
            if not finished:
                with open(os.path.join(mark_dir, "cancelled"), "w") as f:
                    f.write("1")

        ctx.add_callback(on_termination)
        for i in range(1200):
            if not ctx.is_active():
                return
            yield b"tick%d" % i
            time.sleep(0.05)
        finished.append(True)

    handler = grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Stream": grpc.unary_stream_rpc_method_handler(stream),
            "Fail": grpc.unary_unary_rpc_method_handler(fail),
            "Die": grpc.unary_stream_rpc_method_handler(die),
            "Slow": grpc.unary_stream_rpc_method_handler(slow),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(port_file + ".tmp", port_file)
    server.wait_for_termination()


def failure(e):
    return {"code": e.code().name, "details": e.details()}


def client(target, scenario, ca=None):
    if ca:
        creds = grpc.ssl_channel_credentials(open(ca, "rb").read())
        channel = grpc.secure_channel(target, creds)
    else:
        channel = grpc.insecure_channel(target)
    unary = lambda name: channel.unary_unary("/test.Echo/" + name)
    streaming = lambda name: channel.unary_stream("/test.Echo/" + name)
    out = {}
    if scenario == "unary":
        out["reply"] = unary("Unary")(b"hello", timeout=10).decode()
    elif scenario == "stream":
        out["messages"] = [m.decode() for m in streaming("Stream")(b"5", timeout=10)]
    elif scenario == "fail":
        try:
            unary("Fail")(b"x", timeout=10)
            out["code"] = "OK"
        except grpc.RpcError as e:
            out.update(failure(e))
    elif scenario == "die":
        got = []
        try:
            for m in streaming("Die")(b"x", timeout=10):
                got.append(m.decode())
            out["code"] = "OK"
        except grpc.RpcError as e:
            out.update(failure(e))
        out["messages"] = got
    elif scenario == "cancel":
        call = streaming("Slow")(b"x", timeout=30)
        got = []
        for m in call:
            got.append(m.decode())
            if len(got) == 3:
                call.cancel()
                break
        out["messages"] = got
    else:
        sys.exit("unknown scenario " + scenario)
    print(json.dumps(out))


def main():
    if sys.argv[1] == "server":
        serve(sys.argv[2], sys.argv[3])
    else:
        client(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)


if __name__ == "__main__":
    main()
