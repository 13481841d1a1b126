"""An OTLP receiver for tests/it/otel.rs, built on the official opentelemetry-proto package
(and grpcio), so that what the gateway exports is decoded by code that is not the gateway's.

It serves OTLP/HTTP (POST /v1/traces and /v1/logs, protobuf bodies) and OTLP/gRPC
(TraceService/Export and LogsService/Export) on two ports chosen by the kernel, prints
{"http": PORT, "grpc": PORT} as its first line on stdout, then appends each export request it
receives to OUT as one JSON line: {"signal", "transport", "request"}, the request as
google.protobuf.json_format renders it, with trace and span ids turned from base64 into hex.
It runs until killed, or until its standard input closes.

Usage: receiver.py OUT
"""

import base64
import json
import sys
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

ID_FIELDS = {"trace_id", "span_id", "parent_span_id"}
lock = threading.Lock()
out_path = sys.argv[1]


def hex_ids(node):
    """Turns the base64 ids json_format writes into the hex everyone else uses."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            hex_ids(item)


def record(signal, transport, message):
    body = json_format.MessageToDict(message, preserving_proto_field_name=True)
    hex_ids(body)
    line = json.dumps({"signal": signal, "transport": transport, "request": body})
    with lock, open(out_path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


class Http(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        kinds = {
            "/v1/traces": ("traces", trace_service_pb2.ExportTraceServiceRequest,
                           trace_service_pb2.ExportTraceServiceResponse),
            "/v1/logs": ("logs", logs_service_pb2.ExportLogsServiceRequest,
                         logs_service_pb2.ExportLogsServiceResponse),
        }
        if self.path not in kinds or self.headers.get("content-type") != "application/x-protobuf":
            self.send_response(404 if self.path not in kinds else 415)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        signal, request_type, response_type = kinds[self.path]
        request = request_type()
        request.ParseFromString(body)
        record(signal, "http", request)
        answer = response_type().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


class Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def Export(self, request, context):
        record("traces", "grpc", request)
        return trace_service_pb2.ExportTraceServiceResponse()


class Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def Export(self, request, context):
        record("logs", "grpc", request)
        return logs_service_pb2.ExportLogsServiceResponse()


def main():
    open(out_path, "a", encoding="utf-8").close()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), Http)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    print(json.dumps({"http": http.server_address[1], "grpc": grpc_port}), flush=True)
    sys.stdin.read()
    server.stop(0)
    http.shutdown()


if __name__ == "__main__":
    main()
