"""The HTTP server and the public ``AepEmulator`` class."""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import json
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_aep.testing import specs
from airflow_provider_aep.testing.catalog import Catalog, default_tables
from airflow_provider_aep.testing.errors import default_fault_body
from airflow_provider_aep.testing.faults import Fault, FaultSet
from airflow_provider_aep.testing.handlers import Request, Response, RunPlan, Service
from airflow_provider_aep.testing.journal import Journal, JournalEntry, journal_body, redact_headers, redact_query
from airflow_provider_aep.testing.state import KINDS, AuthRegistry, Clock, Store

DEFAULT_CLIENT_ID = "aep-test-client"
DEFAULT_CLIENT_SECRET = "aep-test-secret"
DEFAULT_ORG_ID = "TESTORG0123456789@AdobeOrg"
CONN_TYPE = "adobe_experience_platform"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # hundreds of triggers or threads may connect at once

    def __init__(self, address: tuple[str, int], emulator: AepEmulator) -> None:
        self.emulator = emulator
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.emulator.verbose:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def version_string(self) -> str:
        return "AepEmulator/1.0"

    def setup(self) -> None:
        super().setup()
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.sockets_lock:
                self.server.open_sockets.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.emulator.verbose:
            sys.stderr.write(f"[aep-emulator] {self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        emu = self.server.emulator
        seq = emu._journal.arrive()
        split = urlsplit(self.path)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        body = self._read_body()
        request_id = str(uuid.uuid4())
        fault = emu._faults.take(self.command, path)
        if fault is not None and fault.delay > 0 and not fault.after_apply:
            time.sleep(fault.delay)
        response: Response | None = None
        if fault is None or not fault.replaces_response or fault.after_apply:
            req = Request(self.command, path, query, headers, body, request_id)
            response = emu._service.handle(req)
        if fault is not None and fault.after_apply and fault.delay > 0:
            time.sleep(fault.delay)
        if fault is not None and fault.drop:
            emu._journal.record(seq, self._entry(path, query, headers, body, 0, True))
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.status is not None:
            response = _fault_response(fault, path, request_id)
        assert response is not None
        emu._journal.record(seq, self._entry(path, query, headers, body, response.status, fault is not None))
        self._send(response, request_id)

    def _entry(
        self, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes, status: int, fault: bool
    ) -> JournalEntry:
        return JournalEntry(
            method=self.command,
            path=path,
            query=redact_query(query),
            headers=redact_headers(headers),
            body=journal_body(body, headers.get("content-type", "")),
            status=status,
            fault=fault,
        )

    def _send(self, response: Response, request_id: str) -> None:
        if response.raw is not None:
            payload = response.raw
        elif response.body is None:
            payload = b""
        else:
            payload = json.dumps(response.body).encode("utf-8")
        self.send_response(response.status)
        if response.status != 204:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(0 if response.status == 204 else len(payload)))
        self.send_header("x-request-id", request_id)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and response.status != 204:
            self.wfile.write(payload)
        self.wfile.flush()


def _fault_response(fault: Fault, path: str, request_id: str) -> Response:
    assert fault.status is not None
    headers = dict(fault.headers)
    if fault.retry_after is not None:
        value = fault.retry_after
        headers["Retry-After"] = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if fault.raw_body is not None:
        raw = fault.raw_body.encode("utf-8") if isinstance(fault.raw_body, str) else fault.raw_body
        return Response(
            fault.status, raw=raw, headers=headers, content_type=fault.content_type or "text/html; charset=utf-8"
        )
    body = fault.body if fault.body is not None else default_fault_body(fault.status, path, request_id)
    return Response(fault.status, body, headers=headers, content_type=fault.content_type or "application/json")


class AepEmulator:
    """A local emulator of Adobe IMS, Flow Service and Data Prep over real HTTP on loopback."""

    def __init__(
        self,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        org_id: str = DEFAULT_ORG_ID,
        sandboxes: tuple[str, ...] | list[str] = ("prod", "dev"),
        cloud: str = "azure",
        token_ttl: int = 86399,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        default_page_size: int = 50,
        verbose: bool = False,
    ) -> None:
        if cloud not in ("azure", "aws"):
            raise ValueError("cloud must be 'azure' or 'aws'")
        if not sandboxes:
            raise ValueError("at least one sandbox is required")
        self.client_id = client_id
        self.client_secret = client_secret
        self.org_id = org_id
        self.sandboxes = tuple(sandboxes)
        self.cloud = cloud
        self.token_ttl = token_ttl
        self.host = host
        self.verbose = verbose
        self._requested_port = port
        self._clock = Clock()
        self._auth = AuthRegistry()
        self._auth.add_client(client_id, client_secret, org_id)
        self._store = Store()
        self._catalog = Catalog()
        self._journal = Journal()
        self._faults = FaultSet()
        self._service = Service(
            cloud=cloud,
            sandboxes=self.sandboxes,
            token_ttl=token_ttl,
            default_page_size=default_page_size,
            clock=self._clock,
            auth=self._auth,
            store=self._store,
            catalog=self._catalog,
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> AepEmulator:
        """Bind and serve in a daemon thread. Returns self."""
        if self._server is not None:
            return self
        self._server = _Server((self.host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="aep-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close open keep-alive connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with server.sockets_lock:
            for sock in list(server.open_sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> AepEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Platform base URL (Flow Service at /data/foundation/flowservice)."""
        return f"http://{self.host}:{self.port}"

    @property
    def ims_url(self) -> str:
        """IMS base URL (token endpoint at /ims/token/v3); the same server."""
        return self.url

    # --- credentials and Airflow connection ------------------------------------------------------

    def add_client(self, client_id: str, client_secret: str, org_id: str | None = None) -> None:
        """Register another OAuth server-to-server credential (org defaults to ``org_id``)."""
        self._auth.add_client(client_id, client_secret, org_id or self.org_id)

    def airflow_connection(self, **extra_overrides: Any) -> dict[str, Any]:
        """An Airflow connection dict pointing at this emulator."""
        extra: dict[str, Any] = {
            "org_id": self.org_id,
            "sandbox_name": self.sandboxes[0],
            "ims_url": self.ims_url,
            "cloud": self.cloud,
        }
        extra.update(extra_overrides)
        return {
            "conn_type": CONN_TYPE,
            "login": self.client_id,
            "password": self.client_secret,
            "host": self.url,
            "extra": extra,
        }

    def airflow_connection_json(self, **extra_overrides: Any) -> str:
        """``airflow_connection`` as JSON, for ``AIRFLOW_CONN_AEP_DEFAULT``."""
        return json.dumps(self.airflow_connection(**extra_overrides))

    # --- journal ---------------------------------------------------------------------------------

    @property
    def journal(self) -> list[JournalEntry]:
        """Every request received so far, in arrival order (a copy)."""
        return copy.deepcopy(self._journal.entries())

    def requests(self, method: str | None = None, path: str | None = None) -> list[JournalEntry]:
        """Journal entries filtered by method and an fnmatch glob on the path."""
        return [
            e
            for e in self.journal
            if (method is None or e.method.upper() == method.upper())
            and (path is None or fnmatch.fnmatchcase(e.path, path))
        ]

    def clear_journal(self) -> None:
        self._journal.clear()

    @property
    def request_count(self) -> int:
        """How many requests the journal holds, answered or not; cheap enough to poll while a test runs."""
        return len(self._journal)

    @property
    def token_requests(self) -> int:
        """Number of access tokens IMS issued successfully."""
        return self._auth.issued

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far."""
        self._auth.expire_all()

    # --- faults ----------------------------------------------------------------------------------

    def inject_fault(
        self,
        method: str = "*",
        path: str = "*",
        *,
        status: int | None = None,
        body: Any = None,
        raw_body: str | bytes | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        retry_after: float | str | None = None,
        delay: float = 0.0,
        drop: bool = False,
        after_apply: bool = False,
        times: int | None = 1,
        skip: int = 0,
    ) -> Fault:
        """Make matching requests fail; see ``Fault``."""
        fault = Fault(
            method=method,
            path=path,
            status=status,
            body=body,
            raw_body=raw_body,
            content_type=content_type,
            headers=dict(headers or {}),
            retry_after=retry_after,
            delay=delay,
            drop=drop,
            after_apply=after_apply,
            times=times,
            skip=skip,
        )
        return self._faults.add(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    # --- state -----------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget resources, journal, faults, token count, clock offset, run plans and catalog.

        Registered clients and already-issued tokens stay valid.
        """
        with self._store.lock:
            self._store.clear()
            self._catalog.set(default_tables())
            self._service.connection_catalogs.clear()
            self._service.run_plans = {None: RunPlan()}
            self._service.connection_test_result = None
            self._service.show_run_params = True
            self._service.flow_specs = specs.flow_specs()
            self._clock.offset = 0.0
        self._faults.clear()
        self._journal.clear()
        self._auth.issued = 0

    def resources(self, kind: str, sandbox: str | None = None) -> list[dict[str, Any]]:
        """Stored resources of a kind (secrets unmasked), in creation order, every sandbox by default."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        with self._store.lock:
            return [
                self._service.view(kind, res, mask=False)
                for sb, res in self._store.all(kind)
                if sandbox is None or sb == sandbox
            ]

    def set_catalog(self, tables: dict[str, dict[str, Any]], connection_id: str | None = None) -> None:
        """Replace the fake BigQuery catalog: ``{"dataset.table": {"columns": [...], "rows": [...]}}``.

        With ``connection_id``, only the tables behind that base connection; the others keep the shared one.
        """
        with self._store.lock:
            if connection_id is None:
                self._catalog.set(tables)
            else:
                self._service.connection_catalogs[connection_id] = Catalog(tables)

    def set_run_plan(
        self,
        outcome: str = "success",
        duration: float = 2.0,
        input_records: int = 1000,
        output_records: int | None = None,
        failed_records: int = 0,
        errors: list[dict[str, str]] | None = None,
        flow_id: str | None = None,
    ) -> None:
        """How runs created from now on end (for one flow when ``flow_id`` is given)."""
        if outcome not in ("success", "failed"):
            raise ValueError("outcome must be 'success' or 'failed'")
        plan = RunPlan(
            outcome,
            duration,
            input_records,
            output_records,
            failed_records,
            copy.deepcopy(errors) if errors is not None else None,
        )
        with self._store.lock:
            self._service.run_plans[flow_id] = plan

    def set_schedule_rules(self, schema: dict[str, Any], flow_spec: str = "CRMToAEP") -> None:
        """Serve another schedule JSON schema in a flow spec (Adobe may tighten its rules)."""
        with self._store.lock:
            for spec in self._service.flow_specs.values():
                if spec["name"] == flow_spec:
                    spec["scheduleSpec"]["spec"] = copy.deepcopy(schema)
                    return
        raise ValueError(f"no flow spec named {flow_spec!r}")

    def show_run_params(self, shown: bool) -> None:
        """Whether run records carry the ``params`` they were started with (window, delta column).

        Adobe's tutorials show them; its OpenAPI spec does not list them. ``False`` tests a client
        that must not depend on them.
        """
        with self._store.lock:
            self._service.show_run_params = shown

    def set_connection_test_result(self, result: bool | None) -> None:
        """Force ``GET /connections/{id}/test`` to answer ``result`` (None = check the stored auth)."""
        self._service.connection_test_result = result

    def advance_clock(self, seconds: float) -> None:
        """Move the emulated clock forward (runs finish, tokens expire)."""
        with self._store.lock:
            self._clock.advance(seconds)

    def now(self) -> float:
        """The emulated clock, epoch seconds."""
        return self._clock.now()
