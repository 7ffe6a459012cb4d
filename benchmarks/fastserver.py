"""A minimal, fast HTTP/1.1 keep-alive server on loopback for the client-overhead and paging benchmarks.

    python -m benchmarks.fastserver      # prints "@@{"port": N}" and serves until stdin closes

Routes (any auth header accepted, standard library only, one asyncio loop):

- ``POST /ims/token/v3`` → an access token (counted);
- ``GET /data/foundation/flowservice/connectionSpecs/{id}`` → the emulator's BigQuery connection spec;
- ``GET /data/foundation/flowservice/connections?total=N&start=S&limit=L`` → items S..S+L of N generated
  connections, with ``_links.next`` until N.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from urllib.parse import parse_qs, urlsplit

FLOW = "/data/foundation/flowservice"


def _spec_body() -> bytes:
    try:
        from airflow_provider_aep.testing.specs import BIGQUERY_SPEC_ID, connection_specs

        spec = connection_specs("azure")[BIGQUERY_SPEC_ID]
    except Exception:
        spec = {"id": "3c9b37f8-13a6-43d8-bad3-b863b941fedd", "name": "google-big-query", "authSpec": []}
    return json.dumps({"items": [spec]}).encode()


def _connection(i: int) -> dict:
    return {
        "id": f"{i:08x}-7a1b-4c2d-9e3f-{i:012x}",
        "createdAt": 1760000000000 + i,
        "updatedAt": 1760000000000 + i,
        "createdBy": "aep-test-client@AdobeID",
        "name": f"bigquery-connection-{i}",
        "description": "Google BigQuery base connection created by the benchmark",
        "connectionSpec": {"id": "3c9b37f8-13a6-43d8-bad3-b863b941fedd", "version": "1.0"},
        "state": "enabled",
        "auth": {
            "specName": "Service Authentication",
            "params": {"projectId": "acme-crm", "keyFileContent": "<masked>"},
        },
        "version": f'"{i:032x}"',
        "etag": f'"{i:032x}"',
    }


class Server:
    def __init__(self) -> None:
        self.spec = _spec_body()
        self.tokens = 0
        self.requests = 0

    def route(self, method: str, target: str) -> tuple[int, bytes]:
        self.requests += 1
        parts = urlsplit(target)
        path = parts.path
        if method == "POST" and path == "/ims/token/v3":
            self.tokens += 1
            return 200, json.dumps(
                {"access_token": f"eyJbench{self.tokens:06d}" + "x" * 40, "token_type": "bearer", "expires_in": 86399}
            ).encode()
        if method == "GET" and path.startswith(FLOW + "/connectionSpecs/"):
            return 200, self.spec
        if method == "GET" and path == FLOW + "/connections":
            q = parse_qs(parts.query)
            total = int(q.get("total", ["0"])[0])
            start = int(q.get("start", ["0"])[0])
            limit = int(q.get("limit", ["50"])[0])
            end = min(total, start + limit)
            body: dict = {"items": [_connection(i) for i in range(start, end)]}
            if end < total:
                body["_links"] = {"next": {"href": f"/connections?total={total}&start={end}&limit={limit}"}}
            return 200, json.dumps(body).encode()
        if method == "GET" and path == "/stats":
            return 200, json.dumps({"tokens": self.tokens, "requests": self.requests}).encode()
        return 404, b'{"error_code": "404", "message": "not found"}'

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                length = 0
                close = False
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    lname = name.strip().lower()
                    if lname == "content-length":
                        length = int(value.strip())
                    elif lname == "connection" and value.strip().lower() == "close":
                        close = True
                if length:
                    await reader.readexactly(length)
                status, payload = self.route(method, target)
                reason = "OK" if status == 200 else "Not Found"
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\nx-request-id: bench\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


async def _main() -> None:
    server = Server()
    srv = await asyncio.start_server(server.handle, "127.0.0.1", 0, backlog=1024)
    port = srv.sockets[0].getsockname()[1]
    sys.stdout.write("@@" + json.dumps({"port": port}) + "\n")
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    # Stop when the parent closes our stdin (or dies).
    threading.Thread(
        target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(done.set_result, None)), daemon=True
    ).start()
    async with srv:
        await done


if __name__ == "__main__":
    asyncio.run(_main())
