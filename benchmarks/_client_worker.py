"""Worker for 3. client overhead: N sequential GETs through the hook, a bare requests.Session and aepp.

    python -m benchmarks._client_worker PORT N

Runs the three clients interleaved in blocks (A, B, C, A, B, C, …) against the same server and prints
``@@{json}`` with each client's total seconds. aepp is skipped (with the reason) when it is not installed.
"""

from __future__ import annotations

import json
import os
import sys
import time

SPEC_ID = "3c9b37f8-13a6-43d8-bad3-b863b941fedd"
BLOCK = 50


def main() -> None:
    port, n = int(sys.argv[1]), int(sys.argv[2])
    base = f"http://127.0.0.1:{port}"
    sys.path.insert(0, os.getcwd())
    from benchmarks._servers import conn_json

    os.environ["AIRFLOW_CONN_AEP_DEFAULT"] = conn_json(base)
    import requests

    from airflow_provider_aep.hooks.aep import AdobeExperiencePlatformHook

    hook = AdobeExperiencePlatformHook()
    path = f"/connectionSpecs/{SPEC_ID}"
    hook.request("GET", path)  # token, connection, pooled socket: warm
    s = hook.settings
    token = hook.get_access_token()
    url = f"{s.flow_service_url}{path}"
    headers = {
        "Authorization": f"Bearer {token}",
        "x-api-key": s.client_id,
        "x-gw-ims-org-id": s.org_id,
        "x-sandbox-name": s.sandbox_name,
        "Accept": "application/json",
    }
    bare = requests.Session()
    bare.get(url, headers=headers, timeout=s.timeout).json()

    def run_hook() -> None:
        hook.request("GET", path)

    def run_bare() -> None:
        resp = bare.get(url, headers=headers, timeout=s.timeout)
        resp.raise_for_status()
        resp.json()

    clients = {"hook": run_hook, "bare": run_bare}
    aepp_note = ""
    try:
        import aepp
        from aepp import flowservice

        # aepp builds every URL from module globals; "support" takes a custom platform endpoint, and the IMS
        # endpoint (hard-wired to Adobe) is overridden in its config dict before the first token request.
        aepp.configure(
            org_id=s.org_id,
            client_id=s.client_id,
            secret=s.client_secret,
            scopes=s.scopes,
            sandbox=s.sandbox_name,
            environment="support",
            endpoint=base,
        )
        aepp.config.config_object["imsEndpoint"] = base
        aepp.config.config_object["oauthTokenEndpointV2"] = f"{base}/ims/token/v3"
        fs = flowservice.FlowService()
        first = fs.getConnectionSpec(SPEC_ID)
        if not isinstance(first, dict) or "items" not in first:
            raise RuntimeError(f"unexpected aepp answer {str(first)[:80]}")

        def run_aepp() -> None:
            fs.getConnectionSpec(SPEC_ID)

        clients["aepp"] = run_aepp
    except ImportError:
        aepp_note = "aepp not installed in this interpreter"
    except Exception as err:
        aepp_note = f"aepp could not be pointed at the local server: {type(err).__name__}: {err}"

    totals = dict.fromkeys(clients, 0.0)
    cpu = dict.fromkeys(clients, 0.0)
    blocks: dict[str, list[float]] = {name: [] for name in clients}
    names = list(clients)
    done = 0
    rnd = 0
    while done < n:
        k = min(BLOCK, n - done)
        order = names[rnd % len(names) :] + names[: rnd % len(names)]
        for name in order:
            fn = clients[name]
            c = time.process_time()
            t = time.perf_counter()
            for _ in range(k):
                fn()
            elapsed = time.perf_counter() - t
            cpu[name] += time.process_time() - c
            totals[name] += elapsed
            blocks[name].append(elapsed)
        done += k
        rnd += 1
    stats = json.loads(bare.get(f"{base}/stats", timeout=10).content)
    print(
        "@@"
        + json.dumps({"n": n, "totals": totals, "cpu": cpu, "blocks": blocks, "aepp_note": aepp_note, "server": stats}),
        flush=True,
    )


if __name__ == "__main__":
    main()
