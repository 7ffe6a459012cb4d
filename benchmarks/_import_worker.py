"""Measure the import time of modules after Airflow's base is imported (standard library only).

    python _import_worker.py spawn MODULE [PRELOAD,…]  # this fresh interpreter: import base (+ PRELOAD), time MODULE
    python _import_worker.py discover MODULE            # which Airflow core modules MODULE pulls in
    python _import_worker.py fork RUNS MOD [MOD…]       # import base once, fork a child per (run, module, kind)

"total" is what a DAG file pays; "own" preloads the Airflow core modules (``airflow.*`` outside
``airflow.providers``) that the module pulls in, leaving the provider's own code and third-party imports.
Prints ``@@{json}``; also reports which heavy modules each import newly brought in.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import time

HEAVY = ("requests", "google.auth", "httpx", "cryptography", "jsonschema", "aiohttp", "grpc", "pandas")


def import_base() -> str:
    try:
        import airflow.sdk

        return "airflow.sdk"
    except ImportError:
        import airflow.models  # noqa: F401

        return "airflow.models"


def core_modules_pulled(module: str) -> list[str]:
    before = set(sys.modules)
    importlib.import_module(module)
    return [
        name
        for name in sys.modules
        if name not in before and name.startswith("airflow.") and not name.startswith("airflow.providers.")
    ]


def measure(module: str, preload: list[str]) -> dict:
    for name in preload:
        with contextlib.suppress(Exception):  # a lazily registered alias: the module import handles it
            importlib.import_module(name)
    before = {h for h in HEAVY if h in sys.modules}
    start = time.perf_counter()
    importlib.import_module(module)
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "new_heavy": sorted(h for h in HEAVY if h in sys.modules and h not in before)}


def in_child(fn, *args):
    """Run ``fn(*args)`` in a forked copy of this interpreter; return its JSON result."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            payload = fn(*args)
        except BaseException as err:
            payload = {"error": f"{type(err).__name__}: {err}"}
        os.write(wfd, json.dumps(payload).encode())
        os._exit(0)
    os.close(wfd)
    chunks = []
    while True:
        chunk = os.read(rfd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(rfd)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks) or b'{"error": "no result"}')


def main() -> None:
    mode = sys.argv[1]
    t0 = time.perf_counter()
    base = import_base()
    base_seconds = time.perf_counter() - t0
    if mode == "discover":
        sys.stdout.write("@@" + json.dumps({"preload": core_modules_pulled(sys.argv[2])}) + "\n")
        return
    if mode == "spawn":
        preload = [p for p in (sys.argv[3] if len(sys.argv) > 3 else "").split(",") if p]
        result = {"base": base, "base_seconds": base_seconds, **measure(sys.argv[2], preload)}
        sys.stdout.write("@@" + json.dumps(result) + "\n")
        return
    import gc

    gc.collect()
    gc.freeze()  # children must not copy the whole heap on their first garbage collection
    runs = int(sys.argv[2])
    modules = sys.argv[3:]
    preloads = {m: in_child(lambda m=m: {"preload": core_modules_pulled(m)}) for m in modules}
    errors = {m: p["error"] for m, p in preloads.items() if "error" in p}
    samples: dict[str, dict[str, list[float]]] = {m: {"total": [], "own": []} for m in modules}
    heavy: dict[str, list[str]] = {}
    for run in range(runs):
        order = modules[run % len(modules) :] + modules[: run % len(modules)]  # rotate: spread noise evenly
        for module in order:
            if module in errors:
                continue
            for kind, preload in (("total", []), ("own", preloads[module]["preload"])):
                data = in_child(measure, module, preload)
                if "error" in data:
                    errors[module] = data["error"]
                    break
                samples[module][kind].append(data["seconds"])
                if kind == "total":
                    heavy[module] = data["new_heavy"]
    result = {
        "base": base,
        "base_seconds": base_seconds,
        "samples": samples,
        "new_heavy": heavy,
        "preloads": {m: p.get("preload", []) for m, p in preloads.items()},
        "errors": errors,
    }
    sys.stdout.write("@@" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
