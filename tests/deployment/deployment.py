"""A real, throw-away Airflow 3 deployment on loopback for the end-to-end tests.

PostgreSQL (a private cluster in a temp dir, started with ``initdb``/``pg_ctl``), ``airflow db
migrate``, then ``airflow api-server``, ``scheduler``, ``dag-processor`` and ``triggerer`` as separate
processes with the LocalExecutor and the simple auth manager. Every process gets the same
environment: configuration as ``AIRFLOW__...`` variables, the Adobe and Google connections as
``AIRFLOW_CONN_...`` and the Variables as ``AIRFLOW_VAR_...``.

Each process runs in its own process group with its output in ``<root>/logs/<name>.log``; ``stop()``
ends the groups (SIGTERM, then SIGKILL), any stray descendant, and the PostgreSQL cluster.

Run it by hand to look around (Ctrl-C stops everything)::

    python -m tests.deployment.deployment
"""

from __future__ import annotations

import base64
import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO_ROOT / "example_dags"
ARTIFACTS = REPO_ROOT / "artifacts"

ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin"  # fixed through the simple auth manager's passwords file

GOOGLE_CLIENT_ID = "123456789012-aepdeploytest.apps.googleusercontent.com"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
STARTUP_TIMEOUT = float(os.environ.get("AEP_DEPLOYMENT_STARTUP_TIMEOUT", "240"))


class DeploymentError(RuntimeError):
    """The deployment could not start; the message carries the tails of the process logs."""


# ---------------------------------------------------------------------------------------- helpers
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as err:
        return f"<cannot read {path}: {err}>"
    return "\n".join(text.splitlines()[-lines:])


def postgres_bin_dir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl`` (Debian keeps them off PATH)."""
    if env := os.environ.get("AEP_PG_BIN"):
        return Path(env) if (Path(env) / "initdb").is_file() and (Path(env) / "pg_ctl").is_file() else None
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key, reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


def _version_key(path: str) -> tuple[int, ...]:
    part = Path(path).parts[-3]
    return tuple(int(p) for p in part.split(".") if p.isdigit())


def chromium_path() -> Path | None:
    path = Path(os.environ.get("AEP_CHROMIUM", "/usr/bin/chromium"))
    return path if path.is_file() and os.access(path, os.X_OK) else None


def missing_deployment_deps() -> list[str]:
    """What the deployment itself needs and this machine lacks (the browser is checked separately)."""
    missing = []
    if postgres_bin_dir() is None:
        missing.append("PostgreSQL server binaries (initdb, pg_ctl)")
    for module, what in (("psycopg2", "psycopg2-binary"), ("asyncpg", "asyncpg")):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"Python package {what} (Airflow's PostgreSQL drivers)")
    if os.geteuid() == 0 and _pg_run_user() is None:
        missing.append("a non-root 'postgres' user to run PostgreSQL as")
    return missing


def _pg_run_user() -> str | None:
    if os.geteuid() != 0:
        return None
    import pwd

    with contextlib.suppress(KeyError):
        return pwd.getpwnam("postgres").pw_name
    return None


def make_service_account_key(project_id: str = "acme-crm-prod") -> dict[str, Any]:
    """A Google service-account key file with a real RSA key, generated on the spot."""
    import uuid

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    email = f"aep-reader@{project_id}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": uuid.uuid4().hex,
        "private_key": pem,
        "client_email": email,
        "client_id": str(uuid.uuid4().int)[:21],
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
        "universe_domain": "googleapis.com",
    }


# ---------------------------------------------------------------------------------------- PostgreSQL
@dataclass
class PostgresCluster:
    """A private PostgreSQL cluster on 127.0.0.1, trust auth, fsync off (tests only)."""

    root: Path
    port: int = field(default_factory=free_port)
    user: str = "airflow"
    database: str = "airflow"

    def __post_init__(self) -> None:
        bindir = postgres_bin_dir()
        if bindir is None:
            raise DeploymentError("PostgreSQL binaries not found (run scripts/deployment/install_system_deps.sh)")
        self.bindir = bindir
        self.data = self.root / "data"
        self.log = self.root / "postgresql.log"
        self.run_as = _pg_run_user()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as:
            return ["runuser", "-u", self.run_as, "--", *cmd]
        return cmd

    def _run(self, *args: str, timeout: float = 120) -> None:
        proc = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if proc.returncode != 0:
            raise DeploymentError(
                f"{' '.join(args[:1])} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}\n"
                f"--- {self.log} ---\n{tail(self.log)}"
            )

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            shutil.chown(self.root, user=self.run_as)
        self._run("initdb", "-D", str(self.data), "-U", self.user, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, self.database)

    def stop(self) -> None:
        if not (self.data / "postmaster.pid").exists():
            return
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop", timeout=60)
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():  # pg_ctl failed: kill the postmaster ourselves
            with contextlib.suppress(Exception):
                pid = int(pid_file.read_text().splitlines()[0])
                os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------- Airflow
class AirflowDeployment:
    """Airflow 3 with PostgreSQL, four components and the AEP emulator's connection."""

    def __init__(self, emulator: Any, root: Path | None = None) -> None:
        self.emulator = emulator
        self.root = root or Path(tempfile.mkdtemp(prefix="aep-deployment-"))
        self.home = self.root / "airflow-home"
        self.logs = self.root / "logs"
        self.api_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.postgres = PostgresCluster(self.root / "pg")
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.timings: dict[str, float] = {}
        # Secrets given to the deployment, which must never show up in a task log.
        self.service_account_key = make_service_account_key()
        self.google_client_secret = "GOCSPX-" + secrets.token_urlsafe(21)
        self.google_refresh_token = "1//0g" + secrets.token_urlsafe(72)
        self._started = False

    # ------------------------------------------------------------------ environment
    @property
    def key_json(self) -> str:
        return json.dumps(self.service_account_key)

    def secret_values(self) -> dict[str, str]:
        """Every secret form the tasks handle, by name, for the log checks."""
        key_json = self.key_json
        out = {
            "Adobe client secret": self.emulator.client_secret,
            "Google client secret": self.google_client_secret,
            "Google refresh token": self.google_refresh_token,
            "service-account key JSON": key_json,
            "service-account key JSON (Base64)": base64.b64encode(key_json.encode()).decode(),
            "service-account key JSON (Base64, as sent by the provider)": base64.b64encode(
                json.dumps(self.service_account_key, separators=(",", ":")).encode()
            ).decode(),
            "private key (PEM)": self.service_account_key["private_key"],
            "private key (escaped PEM)": json.dumps(self.service_account_key["private_key"])[1:-1],
        }
        body = [
            line
            for line in self.service_account_key["private_key"].splitlines()
            if line and not line.startswith("-----")
        ]
        for i, line in enumerate(body):
            out[f"private key body line {i + 1}"] = line
        return out

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "PYTHONUNBUFFERED": "1",
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": r"airflow_provider_aep\..*",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.url,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__WEBSERVER__EXPOSE_CONFIG": "False",
                # Connections and Variables, as a deployment would give them.
                "AIRFLOW_CONN_AEP_DEFAULT": self.emulator.airflow_connection_json(),
                "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(
                    {
                        "conn_type": "google_cloud_platform",
                        "extra": {
                            "keyfile_dict": self.key_json,
                            "project": self.service_account_key["project_id"],
                        },
                    }
                ),
                "AIRFLOW_VAR_BQ_OAUTH_CLIENT_ID": GOOGLE_CLIENT_ID,
                "AIRFLOW_VAR_BQ_OAUTH_CLIENT_SECRET": self.google_client_secret,
                "AIRFLOW_VAR_BQ_OAUTH_REFRESH_TOKEN": self.google_refresh_token,
            }
        )
        return env

    def airflow_cmd(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "airflow", *args]

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> AirflowDeployment:
        t0 = time.monotonic()
        try:
            self.home.mkdir(parents=True)
            os.chmod(self.root, 0o755)  # PostgreSQL runs as another user below it
            self.logs.mkdir(parents=True)
            (self.home / "passwords.json").write_text(json.dumps({ADMIN_USER: ADMIN_PASSWORD}) + "\n")
            self.postgres.start()
            self.timings["postgres"] = time.monotonic() - t0

            t1 = time.monotonic()
            migrate_log = self.logs / "db-migrate.log"
            with migrate_log.open("wb") as out:
                proc = subprocess.run(
                    self.airflow_cmd("db", "migrate"),
                    env=self.env_cache,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.root,
                    timeout=300,
                    start_new_session=True,
                )
            if proc.returncode != 0:
                raise DeploymentError(f"airflow db migrate failed:\n{tail(migrate_log, 60)}")
            self.timings["db migrate"] = time.monotonic() - t1

            t2 = time.monotonic()
            for name in COMPONENTS:
                self._spawn(name)
            self._started = True
            self._wait_ready()
            self.timings["components ready"] = time.monotonic() - t2
        except BaseException as err:
            report = self.describe_failure(err)
            self.stop()
            if isinstance(err, DeploymentError | TimeoutError):
                raise DeploymentError(report) from None
            raise
        self.timings["total startup"] = time.monotonic() - t0
        return self

    @property
    def env_cache(self) -> dict[str, str]:
        if not hasattr(self, "_env"):
            self._env = self.env()
        return self._env

    def _spawn(self, name: str) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            self.airflow_cmd(name),
            env=self.env_cache,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.root,
            start_new_session=True,  # own process group, killed as a whole on stop()
        )
        log.close()

    def _check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise DeploymentError(f"airflow {name} exited with code {proc.returncode}")

    def _wait_ready(self) -> None:
        import requests

        deadline = time.monotonic() + STARTUP_TIMEOUT
        last = "no answer yet"
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                health = requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).json()
                states = {k: (v or {}).get("status") for k, v in health.items()}
                last = f"health {states}"
                if all(states.get(k) == "healthy" for k in ("metadatabase", "scheduler", "triggerer", "dag_processor")):
                    client = self.client()
                    resp = client.get("/api/v2/dags/example_bigquery_base_connection")
                    last = f"health ok; DAG lookup HTTP {resp.status_code}"
                    if resp.status_code == 200:
                        return
            except requests.RequestException as err:
                last = f"{type(err).__name__}"
            time.sleep(1)
        raise TimeoutError(f"Airflow not ready after {STARTUP_TIMEOUT:.0f} s ({last})")

    def describe_failure(self, err: BaseException) -> str:
        parts = [f"Airflow deployment failed to start: {err}", f"(files in {self.root})"]
        for path in sorted(self.logs.glob("*.log")) if self.logs.exists() else []:
            parts.append(f"--- tail of {path.name} ---\n{tail(path)}")
        if self.postgres.log.exists():
            parts.append(f"--- tail of postgresql.log ---\n{tail(self.postgres.log, 20)}")
        return "\n".join(parts)

    def stop(self) -> None:
        """End every process group and stray descendant, then the PostgreSQL cluster."""
        import psutil

        descendants: list[psutil.Process] = []
        for proc in self.processes.values():
            with contextlib.suppress(psutil.Error):
                descendants.extend(psutil.Process(proc.pid).children(recursive=True))
        for proc in self.processes.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.processes.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        for child in descendants:  # children that left the group (setsid)
            with contextlib.suppress(psutil.Error):
                child.kill()
        psutil.wait_procs(descendants, timeout=5)
        self.postgres.stop()
        self._started = False

    def leftover_processes(self) -> list[str]:
        """Processes of this deployment still running (should be none after ``stop()``)."""
        import psutil

        root = str(self.root)
        found = []
        for proc in psutil.process_iter(["pid", "cmdline", "environ"]):
            with contextlib.suppress(psutil.Error):
                cmdline = " ".join(proc.info["cmdline"] or [])
                environ = proc.info["environ"] or {}
                if root in cmdline or environ.get("AIRFLOW_HOME") == str(self.home):
                    found.append(f"{proc.pid} {cmdline[:120]}")
        return found

    def save_logs(self, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        for path in self.logs.glob("*.log"):
            shutil.copy(path, dest / path.name)
        if self.postgres.log.exists():
            shutil.copy(self.postgres.log, dest / "postgresql.log")

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------ REST API
    def token(self) -> str:
        import requests

        resp = requests.post(
            f"{self.base_url}/auth/token",
            json={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
            timeout=30,
        )
        resp.raise_for_status()
        return resp.json()["access_token"]

    def client(self) -> ApiClient:
        return ApiClient(self.base_url, self.token())


class ApiClient:
    """A tiny REST client with the bearer token of the test user."""

    def __init__(self, base_url: str, token: str) -> None:
        import requests

        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, f"{self.base_url}{path}", **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self.request(method, path, **kwargs)
        if resp.status_code >= 400:
            raise AssertionError(f"{method} {path} -> HTTP {resp.status_code}: {resp.text[:2000]}")
        return resp.json()


def main() -> int:
    """Start the deployment with an emulator and wait for Ctrl-C."""
    from airflow_provider_aep.testing import AepEmulator

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)  # also when started in the background (SIGINT ignored)
    with AepEmulator() as emulator:
        deployment = AirflowDeployment(emulator)
        deployment.start()
        print(f"Airflow UI: {deployment.base_url}  (user {ADMIN_USER}, password {ADMIN_PASSWORD})")
        print(f"Emulator:   {emulator.url}")
        print(f"Files:      {deployment.root}")
        print("Timings:", {k: round(v, 1) for k, v in deployment.timings.items()})
        sys.stdout.flush()
        try:
            while all(p.poll() is None for p in deployment.processes.values()):
                time.sleep(1)
            print("A component exited; stopping.")
        except KeyboardInterrupt:
            pass
        finally:
            deployment.stop()
            print("Left over:", deployment.leftover_processes() or "nothing")
            deployment.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
