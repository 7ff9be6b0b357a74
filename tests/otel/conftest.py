"""Fixtures for the OpenTelemetry tests: the real OpenTelemetry Collector (tools/otelcol, built by
`make tools`) on free loopback ports writing what it receives as OTLP-JSON lines, and a small OTLP/HTTP
server in Python that answers with chosen status codes (for 429/503/400/413 and a blackhole)."""

import json
import os
import pathlib
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

ROOT = pathlib.Path(os.environ.get("FIXGW_ROOT", pathlib.Path(__file__).resolve().parents[2]))
FIXGW = pathlib.Path(os.environ.get("FIXGW_BIN", ROOT / "build" / "fixgw"))


def missing_peer(why):
    """tests/e2e/gwharness.py imports this from the conftest on the path (here, when the gateway tests in this
    directory use the harness): the OTel tests need no peer program, so a missing one fails."""
    pytest.fail(why)


def wait_for(cond, timeout=30.0, what="condition"):
    """Poll cond() until it returns something truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fixgw_otlp(args, env=None, timeout=60):
    """Run `fixgw otlp ...`; returns the CompletedProcess (text mode)."""
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("OTEL_"):
            del e[k]
    e.update(env or {})
    return subprocess.run([str(FIXGW), "otlp"] + list(args), capture_output=True, text=True, timeout=timeout, env=e)


def start_fixgw_otlp(args, env=None):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("OTEL_"):
            del e[k]
    e.update(env or {})
    return subprocess.Popen([str(FIXGW), "otlp"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=e)


@pytest.fixture(scope="session")
def fixgw():
    if not FIXGW.exists():
        pytest.fail(f"{FIXGW} is missing: build first (make)")
    return str(FIXGW)


@pytest.fixture(scope="session")
def otelcol_bin():
    path = os.environ.get("FIXGW_OTELCOL")
    if not path:
        r = subprocess.run([str(ROOT / "tools" / "build.sh")], capture_output=True, text=True, timeout=3000)
        if r.returncode != 0:
            pytest.fail(f"tools/build.sh failed (the real collector is needed):\n{r.stderr[-3000:]}")
        path = os.path.join(r.stdout.strip().splitlines()[-1], "otelcol")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not an executable collector")
    return path


class Collector:
    """The real collector: OTLP gRPC and HTTP receivers on loopback, the file exporter writing JSON lines."""

    def __init__(self, binary, workdir, pipelines=("traces", "metrics", "logs"), grpc_port=None, http_port=None,
                 tls=None, host="127.0.0.1"):
        """host: the address the receivers listen on (a test network namespace's host side, for processes
        inside it)."""
        self.binary = binary
        self.host = host
        self.dir = pathlib.Path(workdir)
        self.grpc_port = grpc_port or free_port()
        self.http_port = http_port or free_port()
        self.out = self.dir / "out.jsonl"
        self.config = self.dir / "otelcol.yaml"
        tls_conf = f", tls: {{cert_file: {tls[0]}, key_file: {tls[1]}}}" if tls else ""
        lines = [
            "receivers:",
            "  otlp:",
            "    protocols:",
            f"      grpc: {{endpoint: {host}:{self.grpc_port}{tls_conf}}}",
            f"      http: {{endpoint: {host}:{self.http_port}{tls_conf}}}",
            "processors:",
            "  batch: {timeout: 100ms}",
            "exporters:",
            f"  file: {{path: {self.out}, format: json, flush_interval: 100ms}}",
            "service:",
            "  telemetry:",
            "    metrics: {level: none}",
            "    logs: {level: warn}",
            "  pipelines:",
        ]
        for p in pipelines:
            lines.append(f"    {p}: {{receivers: [otlp], processors: [batch], exporters: [file]}}")
        self.config.write_text("\n".join(lines) + "\n")
        self.proc = None
        self.log = self.dir / "otelcol.log"

    def start(self):
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen([self.binary, f"--config=file:{self.config}"], stdout=self.logf,
                                     stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"otelcol exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection((self.host, self.http_port), timeout=0.2):
                    pass
                with socket.create_connection((self.host, self.grpc_port), timeout=0.2):
                    return True
            except OSError:
                return False

        wait_for(ready, 60, "the collector's receivers")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()

    def records(self):
        """Every OTLP-JSON object the file exporter has written so far."""
        if not self.out.exists():
            return []
        out = []
        for line in self.out.read_text().splitlines():
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass  # a line being written
        return out

    def spans(self, trace_id=None):
        res = []
        for doc in self.records():
            for rs in doc.get("resourceSpans", []):
                for ss in rs.get("scopeSpans", []):
                    for sp in ss.get("spans", []):
                        if trace_id is None or sp.get("traceId") == trace_id:
                            res.append((rs.get("resource", {}), ss.get("scope", {}), sp))
        return res

    def logs(self, trace_id=None):
        res = []
        for doc in self.records():
            for rl in doc.get("resourceLogs", []):
                for sl in rl.get("scopeLogs", []):
                    for lr in sl.get("logRecords", []):
                        if trace_id is None or lr.get("traceId") == trace_id:
                            res.append((rl.get("resource", {}), lr))
        return res

    def metrics(self):
        """{name: [metric objects]} over every export."""
        res = {}
        for doc in self.records():
            for rm in doc.get("resourceMetrics", []):
                for sm in rm.get("scopeMetrics", []):
                    for m in sm.get("metrics", []):
                        res.setdefault(m["name"], []).append((rm.get("resource", {}), m))
        return res


@pytest.fixture
def collector(otelcol_bin, tmp_path):
    c = Collector(otelcol_bin, tmp_path).start()
    yield c
    c.stop()


def attrs(obj):
    """OTLP-JSON attributes as a plain dict (int values are strings in OTLP-JSON; converted back)."""
    out = {}
    for kv in obj.get("attributes", []):
        v = kv.get("value", {})
        if "stringValue" in v:
            out[kv["key"]] = v["stringValue"]
        elif "intValue" in v:
            out[kv["key"]] = int(v["intValue"])
        elif "boolValue" in v:
            out[kv["key"]] = v["boolValue"]
        elif "doubleValue" in v:
            out[kv["key"]] = float(v["doubleValue"])
        else:
            out[kv["key"]] = v
    return out


def make_cert(workdir):
    """A self-signed certificate for 127.0.0.1 (openssl CLI): (cert, key) paths; the cert is its own CA."""
    d = pathlib.Path(workdir)
    cert, key = d / "collector.crt", d / "collector.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return str(cert), str(key)


class MockOtlp:
    """An OTLP/HTTP endpoint in Python that records each request and answers as told by `plan`:
    a function (path, index of the request on that path) -> (status, headers dict) or None to hang."""

    def __init__(self):
        self.requests = []  # (monotonic time, path, headers dict, body length)
        self.lock = threading.Lock()
        self.plan = lambda path, i: (200, {})
        self.release = threading.Event()
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with mock.lock:
                    i = sum(1 for r in mock.requests if r[1] == self.path)
                    mock.requests.append((time.monotonic(), self.path, {k.lower(): v for k, v in self.headers.items()},
                                          len(body)))
                answer = mock.plan(self.path, i)
                if answer is None:
                    mock.release.wait(60)
                    return
                status, hdrs = answer
                payload = b""
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                for k, v in hdrs.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def on(self, path):
        with self.lock:
            return [r for r in self.requests if r[1] == path]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mock_otlp():
    m = MockOtlp()
    yield m
    m.close()
