"""Local stand-ins for the servers the model zoo downloads from (never the real internet).

``FakeServer`` is an HTTP server on 127.0.0.1 (ephemeral port, a thread per request) whose routes the
test sets: plain files (with Range support, dropped connections, stalls, throttling), HTTP errors,
a Google-Drive-like confirmation flow, and a Hugging-Face-Hub-like ``/{repo}/resolve/{rev}/{file}``.

``FakeServer(tls=True)`` also answers ``CONNECT`` as an HTTPS proxy that ends the TLS itself with a
throw-away certificate for Google's Drive hosts: gdown always asks ``https://drive.google.com``, so
the Drive tests set ``HTTPS_PROXY`` to this server and ``REQUESTS_CA_BUNDLE`` to its certificate
(``drive_env``), and every request still stays on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import html
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import pytest

Route = Callable[["_Handler", dict], None]


@dataclass
class Logged:
    method: str
    path: str
    query: dict
    range: str | None
    cookie: str | None


@dataclass
class FileBehaviour:
    """How a file route answers successive GETs: ``drops[i]`` bytes then a cut connection on GET i,
    ``stall_after`` bytes then silence, ``throttle`` seconds between 64 kB blocks."""

    data: bytes
    drops: list[int] = field(default_factory=list)
    stall_after: int | None = None
    throttle: float = 0.0
    range_ok: bool = True
    content_type: str = "application/octet-stream"
    headers: dict = field(default_factory=dict)
    gets: int = 0


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _dispatch(self, method: str) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        owner = self.server.owner
        owner.log.append(Logged(method, parsed.path, query, self.headers.get("Range"), self.headers.get("Cookie")))
        route = owner.routes.get(parsed.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        try:
            route(self, {"method": method, "query": query})
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_CONNECT(self) -> None:
        """An HTTPS proxy tunnel, ended here: the requests inside it go to the same routes."""
        context = self.server.owner.tls_context
        if context is None:
            self.send_error(405, "no CONNECT here")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        try:
            conn = context.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            self.close_connection = True
            return
        self.connection = conn
        self.rfile = conn.makefile("rb")
        self.wfile = conn.makefile("wb", buffering=0)
        self.close_connection = False  # handle() goes on reading requests, now from inside the tunnel

    # helpers used by routes
    def send_bytes(self, status: int, body: bytes, headers: dict | None = None, head: bool = False) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def send_html(self, body: str, headers: dict | None = None) -> None:
        self.send_bytes(200, body.encode(), {"Content-Type": "text/html; charset=utf-8", **(headers or {})})

    def cut(self) -> None:
        """Drop the connection now (the client sees the body end early)."""
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: "FakeServer"


class FakeServer:
    """A local HTTP server for tests; use as a context manager."""

    def __init__(self, tls: bool = False) -> None:
        self.tls_context: ssl.SSLContext | None = None
        self.ca_bundle: str | None = None
        if tls:
            cert, key = drive_certificate()
            self.tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls_context.load_cert_chain(cert, key)
            self.ca_bundle = cert
        self.routes: dict[str, Route] = {}
        self.log: list[Logged] = []
        self.release = threading.Event()  # set on exit: stalled handlers give up
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "FakeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def gets(self, path: str) -> list[Logged]:
        return [e for e in self.log if e.method == "GET" and e.path == path]

    # ------------------------------------------------------------------------------------------------
    # plain files

    def _send_file(self, h: _Handler, b: FileBehaviour, head: bool, extra: dict | None = None) -> None:
        data = b.data
        start, status = 0, 200
        headers = {"Content-Type": b.content_type, "Accept-Ranges": "bytes" if b.range_ok else "none"}
        headers.update(b.headers)
        headers.update(extra or {})
        m = re.match(r"bytes=(\d+)-$", h.headers.get("Range") or "")
        if m and b.range_ok:
            start = int(m.group(1))
            if start >= len(data):
                h.send_bytes(416, b"", {"Content-Range": f"bytes */{len(data)}"}, head=True)
                return
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if head:
            return
        index = b.gets
        b.gets += 1
        if index < len(b.drops):
            h.wfile.write(body[: b.drops[index]])
            h.cut()
            return
        if b.stall_after is not None:
            h.wfile.write(body[: b.stall_after])
            h.wfile.flush()
            self.release.wait(10)
            h.cut()
            return
        if b.throttle:
            for i in range(0, len(body), 1 << 16):
                h.wfile.write(body[i : i + (1 << 16)])
                h.wfile.flush()
                if self.release.wait(b.throttle):
                    return
            return
        h.wfile.write(body)

    def file(self, path: str, data: bytes, **behaviour: object) -> FileBehaviour:
        """Serve ``data`` at ``path``; returns the behaviour object (its ``gets`` counts GETs)."""
        b = FileBehaviour(data, **behaviour)  # type: ignore[arg-type]
        self.routes[path] = lambda h, req: self._send_file(h, b, req["method"] == "HEAD")
        return b

    def status(self, path: str, code: int, body: bytes = b"nope") -> None:
        self.routes[path] = lambda h, req: h.send_bytes(code, body, {"Content-Type": "text/plain"})

    def html(self, path: str, page: str) -> None:
        self.routes[path] = lambda h, req: h.send_html(page)

    def stall_headers(self, path: str) -> None:
        """Accept the request and never answer."""

        def route(h: _Handler, req: dict) -> None:
            self.release.wait(10)
            h.cut()

        self.routes[path] = route

    # ------------------------------------------------------------------------------------------------
    # Google Drive

    def gdrive(self, file_id: str, data: bytes, flavour: str = "form", **behaviour: object) -> FileBehaviour:
        """A Drive-like ``/uc?export=download&id=ID``.

        flavours: ``form`` (virus-scan page with a download form: action + hidden id/export/confirm/uuid),
        ``link`` (a link carrying ``confirm=TOKEN``), ``cookie`` (a ``download_warning`` cookie holds the
        token), ``direct`` (small file: no page), ``quota`` (an error page).
        """
        b = FileBehaviour(data, **behaviour)  # type: ignore[arg-type]
        uuid, token = "0f1e2d3c-aaaa-bbbb-cccc-123456789abc", "Xy_9-z"
        disposition = {"Content-Disposition": f'attachment; filename="{file_id}.pth"'}
        base = "https://drive.usercontent.google.com" if self.tls_context is not None else self.url

        def uc(h: _Handler, req: dict) -> None:
            q = req["query"]
            if q.get("id") != file_id or q.get("export", "download") != "download":
                h.send_bytes(404, b"no such file", {"Content-Type": "text/html"})
            elif flavour == "direct":
                self._send_file(h, b, req["method"] == "HEAD", disposition)
            elif flavour == "quota":
                h.send_html(
                    '<html><body><p class="uc-error-caption">Sorry, you can\'t view or download this file at this'
                    ' time.</p><p class="uc-error-subcaption">Too many users have viewed or downloaded this file'
                    " recently. Please try accessing the file again later.</p></body></html>"
                )
            elif flavour == "link" and q.get("confirm") == token:
                self._send_file(h, b, req["method"] == "HEAD", disposition)
            elif flavour == "cookie" and q.get("confirm") == token and token in (h.headers.get("Cookie") or ""):
                self._send_file(h, b, req["method"] == "HEAD", disposition)
            elif flavour == "form":
                h.send_html(
                    "<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>"
                    "<p>Google Drive can't scan this file for viruses.</p>"
                    f'<form id="download-form" action="{base}/download" method="get">'
                    '<input type="submit" id="uc-download-link" value="Download anyway"/>'
                    f'<input type="hidden" name="id" value="{file_id}">'
                    '<input type="hidden" name="export" value="download">'
                    '<input type="hidden" name="confirm" value="t">'
                    f'<input type="hidden" name="uuid" value="{uuid}"></form></body></html>'
                )
            elif flavour == "link":
                href = html.escape(f"/uc?export=download&confirm={token}&id={file_id}")
                h.send_html(f'<html><body><a id="uc-download-link" href="{href}">Download anyway</a></body></html>')
            elif flavour == "cookie":
                h.send_html(
                    "<html><body>Virus scan warning</body></html>",
                    {"Set-Cookie": f"download_warning_13058876669334088843_{file_id}={token}; Path=/"},
                )
            else:
                h.send_bytes(500, b"bad flavour")

        def download(h: _Handler, req: dict) -> None:
            q = req["query"]
            if q == {"id": file_id, "export": "download", "confirm": "t", "uuid": uuid}:
                self._send_file(h, b, req["method"] == "HEAD", disposition)
            else:
                h.send_html("<html><body>bad confirmation</body></html>")

        self.routes["/uc"] = uc
        self.routes["/download"] = download
        return b

    # ------------------------------------------------------------------------------------------------
    # Hugging Face Hub

    def hub_file(
        self, repo_id: str, filename: str, data: bytes, revision: str = "main", commit: str = "c0ffee" * 6 + "c0ff"
    ) -> FileBehaviour:
        """Answer what ``hf_hub_download`` asks: HEAD then GET on ``/{repo}/resolve/{rev}/{file}`` with
        ``ETag`` (the LFS sha256), ``X-Repo-Commit`` and ``Content-Length``."""
        b = FileBehaviour(data)
        etag = hashlib.sha256(data).hexdigest()
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": commit}
        self.routes[f"/{repo_id}/resolve/{revision}/{filename}"] = lambda h, req: self._send_file(
            h, b, req["method"] == "HEAD", headers
        )
        return b


_CERT: tuple[str, str] | None = None
DRIVE_HOSTS = ("drive.google.com", "docs.google.com", "drive.usercontent.google.com")


def drive_certificate() -> tuple[str, str]:
    """(certificate, key) files of a self-signed certificate for Google's Drive hosts (made once)."""
    global _CERT
    if _CERT is None:
        import pytest

        if shutil.which("openssl") is None:
            pytest.skip("openssl is needed to make the Google Drive stand-in's certificate")
        folder = tempfile.mkdtemp(prefix="edvr-drive-tls-")
        cert, key = f"{folder}/cert.pem", f"{folder}/key.pem"
        san = ",".join(f"DNS:{h}" for h in DRIVE_HOSTS)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=drive.google.com",
             "-addext", f"subjectAltName={san}", "-keyout", key, "-out", cert],
            check=True, capture_output=True,
        )
        _CERT = (cert, key)
    return _CERT


def drive_env(monkeypatch, server: "FakeServer") -> None:
    """Send gdown's requests for Google Drive to ``server`` (a ``FakeServer(tls=True)``)."""
    assert server.ca_bundle is not None
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, server.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_bundle)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def no_real_drive(monkeypatch) -> None:
    """Any request for Google Drive fails at once at a closed local proxy (never the real internet)."""
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, closed_port_url())
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def closed_port_url() -> str:
    """A local URL on which nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def concurrent_download(registry_json: dict, name: str, barrier, results) -> None:
    """Child process body for the concurrency test: wait for the sibling, then download."""
    try:
        from edvr_cli.zoo import Registry, download_model

        barrier.wait(timeout=60)
        cached = download_model(name, registry=Registry.from_json(registry_json), quiet=True)
        results.put(("ok", str(cached.path)))
    except BaseException as exc:  # reported to the parent, which fails the test
        results.put(("error", f"{type(exc).__name__}: {exc}"))


# ----------------------------------------------------------------------------------------------------
# Helpers shared by the zoo tests

FIXTURE_NAME = "basicsr_sr_tsa.pth"


def fixture_bytes() -> bytes:
    from conftest import GOLDEN

    return (GOLDEN / FIXTURE_NAME).read_bytes()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tiny_entry(sources: list[dict], *, name: str = "Tiny_x4_SR", sha256: str | None = None, file: str | None = None):
    """A registry entry for the small BasicSR fixture, served from ``sources``."""
    from edvr_cli.zoo.registry import ModelEntry

    digest = sha256 if sha256 is not None else sha256_hex(fixture_bytes())[:8]
    return ModelEntry.from_dict(
        {
            "name": name,
            "task": "sr",
            "scale": 4,
            "frames": 5,
            "config": {"num_feat": 16, "num_frame": 5, "num_extract_block": 2, "num_reconstruct_block": 2},
            "sha256": digest,
            "file": file or f"{name}_official-{digest[:8]}.pth",
            "naming": "basicsr",
            "sources": sources,
        }
    )


def files_under(root) -> list:
    """Every plain file below ``root`` (nothing when it does not exist)."""
    from pathlib import Path

    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def run_in_two_processes(target, args: tuple, timeout: float = 90) -> list:
    """Start ``target(*args, barrier, results)`` in two spawned processes that begin together;
    return what each put on ``results`` (empty if they did not answer in time). Both are reaped."""
    import multiprocessing as mp
    import queue as queue_module

    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        outcomes = [results.get(timeout=timeout) for _ in procs]
    except queue_module.Empty:
        outcomes = []
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
    return outcomes


def concurrent_import(sources: list, name: str, barrier, results) -> None:
    """Child process body for the import race: wait for the sibling, then import one of ``sources``
    (each child its own, chosen by the barrier's arrival index) as ``name``."""
    src = "?"
    try:
        from edvr_cli.zoo import import_model

        src = sources[barrier.wait(timeout=60) % len(sources)]
        result = import_model(src, name=name)
        results.put(("ok", src, result.cached.source_sha256))
    except BaseException as exc:  # reported to the parent, which checks it
        results.put(("error", src, f"{type(exc).__name__}: {exc}"))


@pytest.fixture(autouse=True)
def local_only(monkeypatch):
    """No test reaches beyond 127.0.0.1 (a test's own server sets its address); retries are quick.
    Autouse in every test module that imports it."""
    from edvr_cli.zoo import http

    monkeypatch.setenv("EDVR_DOWNLOAD_TIMEOUT", "5")
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    no_real_drive(monkeypatch)
    for name in ("EDVR_OFFLINE", "HF_HUB_OFFLINE", "EDVR_HF_REPO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(http, "RETRY_WAIT", 0.01)
