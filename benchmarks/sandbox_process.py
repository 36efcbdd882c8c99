"""The vendor sandbox in a process of its own, driven over its control endpoints.

The benchmark measures the client side; a sandbox thread in the same process
would compete with it for the GIL. :class:`SandboxProcess` runs
``python -m sms_sandbox --port 0 --quiet``, reads the port from
its banner, waits until ``/_sandbox/state`` answers, and always ends the
process: on :meth:`stop`, when the ``with`` block exits (errors and Ctrl-C
included), and, on Linux, when the benchmark process itself dies.
"""

from __future__ import annotations

import ctypes
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

__all__ = ["SandboxError", "SandboxProcess"]

_BANNER = re.compile(r"SMS vendor sandbox on (http://\S+)")
_PR_SET_PDEATHSIG = 1
_PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SandboxError(RuntimeError):
    """The sandbox process did not start, or a control call failed."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to SIGTERM the sandbox when the benchmark process dies."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass


class SandboxProcess:
    """``with SandboxProcess() as sandbox:`` -- a running sandbox on loopback.

    ``base_url(vendor)``, ``set_fault(key, fault, count=None)``, ``reset()``,
    ``stats()``, ``messages()`` mirror the in-process
    :class:`sms_sandbox.Sandbox` API over HTTP, and
    ``cpu_seconds()`` reads the process's CPU time (Linux) to tell whether
    the sandbox is the bottleneck.
    """

    def __init__(self, *, host: str = "127.0.0.1", signicat_token_ttl: int = 600,
                 startup_timeout: float = 15.0, python: str = sys.executable) -> None:
        self.host = host
        self.signicat_token_ttl = signicat_token_ttl
        self.startup_timeout = startup_timeout
        self.python = python
        self.url = ""
        self.process: subprocess.Popen[str] | None = None
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._control = requests.Session()
        self._control.trust_env = False

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> SandboxProcess:
        """Start the process and return once it answers; raise :class:`SandboxError` otherwise."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH")]))
        command = [
            self.python, "-m", "sms_sandbox", "--host", self.host, "--port", "0", "--quiet",
            "--signicat-token-ttl", str(self.signicat_token_ttl),
        ]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
            env=env, cwd=_PROJECT_ROOT, preexec_fn=_die_with_parent,
        )
        try:
            self.url = self._read_url()
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        return self

    def _read_url(self) -> str:
        lines: queue.Queue[str | None] = queue.Queue()
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout

        def drain() -> None:  # also keeps the pipe from filling up later
            for line in stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=drain, name="sandbox-stdout", daemon=True).start()
        deadline = time.monotonic() + self.startup_timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise SandboxError(f"the sandbox exited while starting: {self._stderr_tail()}")
            match = _BANNER.search(line)
            if match:
                return match.group(1)
        raise SandboxError(f"the sandbox printed no address within {self.startup_timeout:g}s")

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                self.state()
                return
            except (requests.RequestException, SandboxError):
                if time.monotonic() > deadline:
                    raise SandboxError(f"the sandbox at {self.url} does not answer") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """End the process (SIGTERM, then SIGKILL after 5 s); safe to call twice."""
        process, self.process = self.process, None
        self._control.close()
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self._stderr.close()

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-2000:].strip() or "(no output)"

    # -- control -------------------------------------------------------------

    def base_url(self, vendor: str) -> str:
        return f"{self.url}/{vendor}"

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._control.request(method, self.url + path, timeout=5, **kwargs)
        if response.status_code != 200:
            raise SandboxError(f"{method} {path}: HTTP {response.status_code} {response.text[:200]}")
        return response.json()

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/_sandbox/state")

    def stats(self) -> dict[str, Any]:
        """``{vendor: {"requests", "connections"}, "signicat_token_requests": n, ...}``."""
        return self.state()["stats"]

    def reset(self) -> None:
        """Forget messages, counters, faults and issued tokens."""
        self._call("POST", "/_sandbox/reset")

    def set_fault(self, key: str, fault: str | None, count: int | None = None) -> None:
        """Make ``key`` (``signicat``, ``signicat-token``, ``zignsec``, ...) fail
        with ``fault``; ``None`` clears it and releases hung requests."""
        self._call("POST", "/_sandbox/faults", json={"vendor": key, "fault": fault, "count": count})

    def set_latency(self, seconds: float) -> None:
        """Delay every vendor answer by ``seconds`` (0: answer at once)."""
        self._call("POST", "/_sandbox/latency", json={"seconds": seconds})

    def messages(self) -> list[dict[str, str]]:
        return self._call("GET", "/messages.json")

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the sandbox process, or None off Linux."""
        if self.process is None:
            return None
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        # Fields after the command name: state is [0], utime [11], stime [12].
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
