#!/usr/bin/env python3
"""A loopback HTTP proxy that injects S3 faults in front of an S3 server, on a fixed
schedule by request number: 503 SlowDown, connections reset before any answer, stalls
(nothing sent for STALL seconds), and responses cut off halfway. Everything else is
forwarded unchanged. The count of each fault injected so far is kept as JSON in STATS_FILE.
Usage: fault-proxy.py LISTEN_PORT UPSTREAM_PORT STALL_SECONDS STATS_FILE"""
import http.client
import json
import http.server
import socket
import sys
import threading
import time

listen_port, upstream_port = int(sys.argv[1]), int(sys.argv[2])
stall_seconds = float(sys.argv[3])
stats_file = sys.argv[4]
counter = 0
injected = {"slowdown": 0, "reset": 0, "stall": 0, "truncate": 0}
lock = threading.Lock()


def count(fault):
    with lock:
        injected[fault] += 1
        with open(stats_file + ".tmp", "w") as f:
            json.dump(injected, f)
        # Atomic replace, so a reader never sees half a file.
        import os
        os.replace(stats_file + ".tmp", stats_file)


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        global counter
        with lock:
            counter += 1
            n = counter
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/moto-api"):
            fault = None
        elif n % 5 == 1:
            fault = "slowdown"
        elif n % 7 == 3:
            fault = "reset"
        elif n % 11 == 5:
            fault = "stall"
        elif n % 13 == 7:
            fault = "truncate"
        else:
            fault = None
        if fault and not (fault == "truncate" and self.command == "HEAD"):
            count(fault)
        if fault == "slowdown":
            payload = b"<?xml version='1.0'?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        if fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
            self.close_connection = True
            return
        if fault == "stall":
            time.sleep(stall_seconds)
            self.close_connection = True
            return
        upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection",)}
        upstream.request(self.command, self.path, body=body if length or self.command in ("PUT", "POST") else None, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                self.send_header(name, value)
        # A HEAD answer carries the length of the body it does not send.
        self.send_header("Content-Length", response.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if fault == "truncate" and len(data) > 1:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


Server(("127.0.0.1", listen_port), Proxy).serve_forever()
