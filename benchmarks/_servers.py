"""Start the fast server or the emulator in a subprocess, so the measured process holds only the client."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from benchmarks._common import REPO, airflow_env


class Child:
    """A subprocess that prints ``@@{json}`` when ready and reads JSON commands on stdin."""

    def __init__(self, module: str, *args: str, python: str | None = None, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [python or sys.executable, "-m", module, *args],
            cwd=REPO,
            env=airflow_env(**(env or {})),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self.info = self._read()

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.proc.args} exited with {self.proc.wait()}")
            if line.startswith("@@"):
                return json.loads(line[2:])

    def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def call(self, **command: Any) -> Any:
        self.send(**command)
        return self._read()

    def result(self) -> Any:
        return self._read()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fast_server() -> Child:
    return Child("benchmarks.fastserver")


def conn_json(base_url: str, **extra: Any) -> str:
    """An Airflow connection pointing both IMS and Platform at ``base_url`` (emulator's default credential)."""
    return json.dumps(
        {
            "conn_type": "adobe_experience_platform",
            "login": "aep-test-client",
            "password": "aep-test-secret",
            "host": base_url,
            "extra": {"org_id": "TESTORG0123456789@AdobeOrg", "sandbox_name": "prod", "ims_url": base_url, **extra},
        }
    )
