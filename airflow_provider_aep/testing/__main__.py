"""``python -m airflow_provider_aep.testing``: run the emulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from airflow_provider_aep.testing.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_ORG_ID,
    AepEmulator,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_aep.testing", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port to bind on 127.0.0.1 (default: any free)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--cloud", choices=("azure", "aws"), default="azure")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument("--org-id", default=DEFAULT_ORG_ID)
    parser.add_argument("--sandbox", action="append", dest="sandboxes", help="sandbox name (repeatable)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    emulator = AepEmulator(
        client_id=args.client_id,
        client_secret=args.client_secret,
        org_id=args.org_id,
        sandboxes=tuple(args.sandboxes or ("prod", "dev")),
        cloud=args.cloud,
        port=args.port,
        host=args.host,
        verbose=args.verbose,
    )
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    emulator.start()
    try:
        print(f"AEP emulator listening on {emulator.url}")
        print(f"AIRFLOW_CONN_AEP_DEFAULT='{emulator.airflow_connection_json()}'")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
