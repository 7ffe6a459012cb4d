"""The emulator in its own process for 5. triggerer scale, driven by JSON commands on stdin.

    python -m benchmarks._emuproc

Prints ``@@{"url", "port"}``, then answers each stdin line:

- ``{"cmd": "seed", "n": N, "duration": D}`` → N runs of one flow, in progress for D seconds → ``{"run_ids"}``;
- ``{"cmd": "stats"}`` → IMS tokens issued and run GETs since the last seed.
"""

from __future__ import annotations

import json
import sys
import uuid

from airflow_provider_aep.testing import AepEmulator
from airflow_provider_aep.testing import emulator as emulator_module
from airflow_provider_aep.testing.handlers import Request
from airflow_provider_aep.testing.specs import CRM_TO_AEP_FLOW_SPEC_ID

RUN_PREFIX = "/data/foundation/flowservice/runs/"


def main() -> None:
    # socketserver's default listen backlog is 5: a thousand pollers connecting at once would see SYNs dropped
    # and 1-3 s retransmits that have nothing to do with the client under test.
    emulator_module._Server.request_queue_size = 4096
    emu = AepEmulator().start()
    print("@@" + json.dumps({"url": emu.url, "port": emu.port}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "seed":
            emu.reset()
            flow = {"id": str(uuid.uuid4()), "flowSpec": {"id": CRM_TO_AEP_FLOW_SPEC_ID, "version": "1.0"}}
            emu.set_run_plan(duration=float(command["duration"]), flow_id=flow["id"])
            req = Request("POST", "/runs", {}, {}, b"", "seed", emu.client_id, emu.org_id, emu.sandboxes[0])
            service = emu._service
            with emu._store.lock:
                ids = [service._new_run(req, flow, {"windowStartTime": i})["id"] for i in range(int(command["n"]))]
            print("@@" + json.dumps({"run_ids": ids}), flush=True)
        elif command["cmd"] == "stats":
            entries = emu._journal.entries()
            run_gets = sum(1 for e in entries if e.method == "GET" and e.path.startswith(RUN_PREFIX))
            statuses: dict[str, int] = {}
            for e in entries:
                statuses[str(e.status)] = statuses.get(str(e.status), 0) + 1
            print(
                "@@" + json.dumps({"tokens": emu.token_requests, "run_gets": run_gets, "statuses": statuses}),
                flush=True,
            )
    emu.stop()


if __name__ == "__main__":
    main()
