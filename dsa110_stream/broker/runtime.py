"""Run a single-node Apache Kafka 4.x (KRaft) on loopback from its Maven Central jars.

A development, test and demo convenience: production points the services at an existing
Kafka cluster. The jars are fetched once with Maven into a cache outside the repository
(``~/.cache/dsa110-stream/kafka-<version>``, or ``DSA110_KAFKA_CACHE``); the broker's
data, configuration, log and pid file live in a data directory of the caller's choosing.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import structlog

from dsa110_stream.casa_env import DEFAULT_CACHE

log = structlog.get_logger(__name__)

KAFKA_VERSION = "4.1.1"
_READY_MARKER = ".complete"


class BrokerError(RuntimeError):
    """The local broker could not be set up, started or stopped; the message says why."""


def new_cluster_id(random_uuid: Callable[[], uuid.UUID] = uuid.uuid4) -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding.

    Like Kafka's own ``Uuid.randomUuid``, ids starting with ``-`` are drawn again: the
    storage tool's argument parser would read such an id as an option (1 draw in 64).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(random_uuid().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def jar_cache_dir() -> Path:
    """Where the Kafka class path is cached (outside the repository)."""
    root = os.environ.get("DSA110_KAFKA_CACHE")
    return Path(root) if root else DEFAULT_CACHE / f"kafka-{KAFKA_VERSION}"


def _require_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BrokerError(f"{name!r} was not found on PATH: {hint}")
    return path


def ensure_jars(cache: Path | None = None) -> Path:
    """Return the directory of Kafka's jars, fetching them with Maven the first time."""
    cache = cache or jar_cache_dir()
    libs = cache / "libs"
    if (libs / _READY_MARKER).exists():
        return libs
    mvn = _require_tool("mvn", "install Maven (e.g. `apt-get install maven`) to fetch Kafka")
    _require_tool("java", "install a Java 17+ runtime (e.g. `apt-get install openjdk-17-jre`)")
    cache.mkdir(parents=True, exist_ok=True)
    staging = cache / f"libs.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    pom = resources.files("dsa110_stream.broker") / "pom.xml"
    log.info("fetching Kafka jars from Maven Central", version=KAFKA_VERSION, into=str(libs))
    with resources.as_file(pom) as pom_path:
        result = subprocess.run(
            [mvn, "-q", "-B", "-f", str(pom_path), "dependency:copy-dependencies",
             f"-DoutputDirectory={staging}", "-DincludeScope=runtime"],
            capture_output=True, text=True, check=False,
        )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise BrokerError(
            "Maven could not fetch Kafka's jars (is Maven Central reachable?):\n"
            + (result.stdout + result.stderr)[-3000:]
        )
    (staging / _READY_MARKER).write_text(KAFKA_VERSION)
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    return libs


def _alive(pid: int) -> bool:
    """True for a running process; reaps it first if it is our own exited child."""
    with contextlib.suppress(ChildProcessError):  # not our child: its parent reaps it
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port the kernel says is free now (for tests that run their own broker)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that are free now: every socket stays bound until all are
    chosen, so the kernel cannot hand the same port out twice (broker + controller)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


@dataclass
class LocalKafka:
    """One KRaft node (broker + controller) on loopback, with its state in ``data_dir``."""

    data_dir: Path
    port: int = 9092
    controller_port: int | None = None
    heap: str = "768m"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    def _controller_port(self) -> int:
        return self.controller_port or self.port + 1

    def _write_config(self) -> Path:
        logs = self.data_dir / "kraft-logs"
        config = self.data_dir / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "# Written by dsa110-stream broker: a single-node dev/test broker.",
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers=127.0.0.1:{self._controller_port()}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self._controller_port()}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={logs}",
                    "num.partitions=3",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=6",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=6",
                    "group.initial.rebalance.delay.ms=0",
                    # Message timestamps are observation times, which can be months old in
                    # tests and backlogs: keep everything on this dev broker.
                    "log.retention.ms=-1",
                    "",
                ]
            )
        )
        return config

    def _format_storage(self, libs: Path, config: Path) -> None:
        if (self.data_dir / "kraft-logs" / "meta.properties").exists():
            return
        cluster_id = new_cluster_id()
        result = subprocess.run(
            [self._java(), "-cp", f"{libs}/*", "kafka.tools.StorageTool", "format",
             "-t", cluster_id, "-c", str(config), "--standalone"],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise BrokerError(f"formatting the broker's storage failed:\n{result.stderr[-2000:]}")

    @staticmethod
    def _java() -> str:
        return _require_tool("java", "install a Java 17+ runtime to run the local Kafka")

    def running_pid(self) -> int | None:
        """The broker's pid if its pid file names a live process."""
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def start(self, timeout: float = 90.0) -> str:
        """Start the broker (if not already running) and wait until it answers."""
        if self.running_pid() is not None:
            self.wait_ready(timeout)
            return self.bootstrap
        for port in (self.port, self._controller_port()):
            if not port_is_free(port):
                raise BrokerError(
                    f"port {port} on 127.0.0.1 is already in use (another Kafka?): "
                    "stop it, or choose other ports with --port"
                )
        libs = ensure_jars()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        self._format_storage(libs, config)
        log4j = resources.files("dsa110_stream.broker") / "log4j2.properties"
        with resources.as_file(log4j) as log4j_path, self.log_file.open("ab") as out:
            process = subprocess.Popen(
                [self._java(), f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC",
                 f"-Dlog4j2.configurationFile={log4j_path}", "-cp", f"{libs}/*",
                 "kafka.Kafka", str(config)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives the shell that started it
            )
        self.pid_file.write_text(str(process.pid))
        try:
            self.wait_ready(timeout, process)
        except BrokerError:
            self.stop()
            raise
        return self.bootstrap

    def wait_ready(self, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
        """Block until the broker answers a metadata request, or raise with its log tail."""
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise BrokerError(f"the broker exited during start-up:\n{self._log_tail()}")
            try:
                admin.list_topics(timeout=2)
                return
            except Exception:
                time.sleep(0.5)
        raise BrokerError(f"the broker did not answer within {timeout:.0f} s:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            return "(no broker log)"

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout``). False if not running."""
        pid = self.running_pid()
        if pid is None:
            return False
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                break
            time.sleep(0.2)
        else:
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True
