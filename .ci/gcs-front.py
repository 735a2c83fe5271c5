#!/usr/bin/env python3
"""A front for fake-gcs-server that adds the Cloud Storage semantics it lacks (issue #16).

    gcs-front.py LISTEN_PORT UPSTREAM_URL

Started by `.ci/gcs.sh` on 127.0.0.1 in front of the emulator; everything goes through
unchanged except what fake-gcs-server 1.54 gets wrong, which docs/storage-servers.md lists:

1. Generation preconditions (`ifGenerationMatch`) on resumable uploads. The emulator ignores
   them, and OpenDAL sends every conditional write as a resumable upload, so without this
   front a "create only if absent" would overwrite and a "replace only version G" would
   replace any version. GCS checks the precondition when the upload completes; so does this
   front: the request that completes an upload whose session asked for a precondition is
   checked against the object's generation and forwarded under one lock, or answered 412.
   Preconditions on a copy (`rewriteTo`, `copyTo`: the destination) and on a delete are
   checked the same way.
2. Batch requests (`/batch/storage/v1`). The emulator does not decode `%2F` in the paths of
   a batch's parts, so a batch delete of `a/b` answers 404 or 400 for every part. Each part
   is sent here as its own request and the answers are put back together in order.
3. The status of an upload (`Content-Range: bytes */N`, no body), which a client asks before
   it sends again a request that failed. The emulator completes the upload with the bytes it
   holds (an empty object when the lost request was the only one); Cloud Storage completes it
   only when it holds all N bytes, and otherwise answers 308 with the bytes it holds. This
   front answers as Cloud Storage.

The checks run under one lock, so they are atomic against each other, not against writes
without a precondition: those do not need it. Python's standard library only, so that CI
installs nothing for it.
"""

import http.client
import http.server
import json
import os
import re
import sys
import threading
import urllib.parse
import time
import uuid

TRACE = bool(os.environ.get("GCS_FRONT_TRACE"))
UPSTREAM = urllib.parse.urlsplit(sys.argv[2])
LOCK = threading.Lock()
# upload_id -> (bucket, object name, required generation: "0" for "must not exist")
SESSIONS = {}
# upload_id -> the answer that completed it
DONE = {}
# upload_id -> how many bytes the emulator acknowledged (its last 308's `Range: bytes=0-N`)
PERSISTED = {}
SESSIONS_LOCK = threading.Lock()

RESUMABLE = re.compile(r"^/upload/storage/v1/b/([^/]+)/o$")
COPY = re.compile(r"^/storage/v1/b/[^/]+/o/[^/]+/(?:rewriteTo|copyTo)/b/([^/]+)/o/([^/?]+)$")
OBJECT = re.compile(r"^/storage/v1/b/([^/]+)/o/([^/?]+)$")
FINAL_RANGE = re.compile(r"^bytes (?:\d+-\d+|\*)/\d+$")
STATUS_QUERY = re.compile(r"^bytes \*/(\d+|\*)$")
ACKNOWLEDGED = re.compile(r"^bytes=0-(\d+)$")
HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


def upstream(method, target, headers, body):
    conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
    try:
        sent = {k: v for k, v in headers if k.lower() not in HOP}
        conn.request(method, target, body=body if body else None, headers=sent)
        resp = conn.getresponse()
        return resp.status, resp.reason, resp.getheaders(), resp.read()
    finally:
        conn.close()


def generation(bucket, name):
    """The object's generation, or None when it does not exist."""
    status, _, _, body = upstream(
        "GET", f"/storage/v1/b/{bucket}/o/{urllib.parse.quote(name, safe='')}", [], b""
    )
    if status == 404:
        return None
    if status != 200:
        raise RuntimeError(f"reading the generation of {name}: {status}")
    return json.loads(body)["generation"]


def holds(bucket, name, required):
    current = generation(bucket, name)
    return current is None if required == "0" else current == required


def failed_precondition():
    body = json.dumps({
        "error": {
            "code": 412,
            "message": "At least one of the pre-conditions you specified did not hold.",
            "errors": [{"domain": "global", "reason": "conditionNotMet",
                        "message": "At least one of the pre-conditions you specified did not hold."}],
        }
    }).encode()
    return 412, "Precondition Failed", [("Content-Type", "application/json")], body


class Front(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm and the client's delayed
    # ACK, each answer on a kept-alive connection would wait 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def answer(self, status, reason, headers, body):
        if TRACE:
            print(f"{time.monotonic():.3f}", self.command, self.path, self.headers.get("Content-Range"), status, flush=True)
        self.send_response(status, reason)
        origin = f"{UPSTREAM.scheme}://{UPSTREAM.netloc}"
        # The address the client used (a test's proxy in front of this front keeps its place).
        own = f"http://{self.headers.get('Host') or f'127.0.0.1:{self.server.server_address[1]}'}"
        for key, value in headers:
            if key.lower() in HOP:
                continue
            if key.lower() == "location":
                # A resumable session's address must lead back here, not to the emulator.
                value = value.replace(origin, own, 1)
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        body = self.body()
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        headers = list(self.headers.items())
        required = query.get("ifGenerationMatch", [None])[0]

        if url.path == "/batch/storage/v1" and self.command == "POST":
            return self.answer(*self.batch(body))

        resumable = RESUMABLE.match(url.path)
        if resumable and self.command == "POST" and query.get("uploadType") == ["resumable"]:
            answer = upstream(self.command, self.path, headers, body)
            location = dict((k.lower(), v) for k, v in answer[2]).get("location")
            if required is not None and location:
                upload_id = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["upload_id"][0]
                name = query.get("name", [None])[0] or json.loads(body or b"{}").get("name")
                with SESSIONS_LOCK:
                    SESSIONS[upload_id] = (resumable.group(1), name, required)
            return self.answer(*answer)
        if resumable and self.command == "PUT" and "upload_id" in query:
            upload_id = query["upload_id"][0]
            content_range = self.headers.get("Content-Range", "")
            with SESSIONS_LOCK:
                session = SESSIONS.get(upload_id)
                done = DONE.get(upload_id)
                persisted = PERSISTED.get(upload_id, 0)
            # A client whose last request failed asks for the session's status (`bytes */N`)
            # before it sends again. GCS answers with the object when the upload is complete
            # (the emulator with 404), completes it when it holds all N bytes (so `bytes */0`
            # finishes an empty object), else answers 308 and the bytes it holds; the emulator
            # instead completes the upload with what it holds, often nothing: an empty object.
            status_query = STATUS_QUERY.match(content_range) if not body else None
            final = FINAL_RANGE.match(content_range) is not None
            if done and (final or status_query):
                return self.answer(*done)
            if status_query and status_query.group(1) != str(persisted):
                held = [("Range", f"bytes=0-{persisted - 1}")] if persisted else []
                return self.answer(308, "Permanent Redirect", held, b"")
            if session and final:
                bucket, name, required = session
                with LOCK:
                    if not holds(bucket, name, required):
                        return self.answer(*failed_precondition())
                    answer = upstream(self.command, self.path, headers, body)
            else:
                answer = upstream(self.command, self.path, headers, body)
            with SESSIONS_LOCK:
                if answer[0] in (200, 201):
                    SESSIONS.pop(upload_id, None)
                    PERSISTED.pop(upload_id, None)
                    DONE[upload_id] = answer
                elif answer[0] == 308:
                    acknowledged = ACKNOWLEDGED.match(dict((k.lower(), v) for k, v in answer[2]).get("range", ""))
                    PERSISTED[upload_id] = int(acknowledged.group(1)) + 1 if acknowledged else 0
            return self.answer(*answer)

        target = COPY.match(url.path) or (OBJECT.match(url.path) if self.command == "DELETE" else None)
        if target and required is not None:
            bucket, name = target.group(1), urllib.parse.unquote(target.group(2))
            with LOCK:
                if not holds(bucket, name, required):
                    return self.answer(*failed_precondition())
                return self.answer(*upstream(self.command, self.path, headers, body))
        return self.answer(*upstream(self.command, self.path, headers, body))

    def batch(self, body):
        boundary = re.search(r'boundary="?([^";]+)"?', self.headers.get("Content-Type", "")).group(1)
        answers = []
        for part in body.split(b"--" + boundary.encode())[1:]:
            if part.startswith(b"--"):
                break
            _, _, inner = part.partition(b"\r\n\r\n")
            request_line, _, rest = inner.strip(b"\r\n").partition(b"\r\n")
            method, target, _ = request_line.decode().split(" ", 2)
            status, reason, _, answer = upstream(method, target, [], b"")
            answers.append(f"HTTP/1.1 {status} {reason}\r\n\r\n".encode() + answer)
        out_boundary = f"batch_{uuid.uuid4().hex}"
        out = b"".join(
            f"--{out_boundary}\r\nContent-Type: application/http\r\nContent-ID: response-{i}\r\n\r\n".encode()
            + answer + b"\r\n"
            for i, answer in enumerate(answers)
        ) + f"--{out_boundary}--\r\n".encode()
        return 200, "OK", [("Content-Type", f"multipart/mixed; boundary={out_boundary}")], out

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


if __name__ == "__main__":
    # The default backlog (5) drops connections under a suite's concurrent uploads; the
    # client then waits for SYN retries (1 s, 3 s, ...).
    http.server.ThreadingHTTPServer.request_queue_size = 256
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Front)
    server.daemon_threads = True
    server.serve_forever()
