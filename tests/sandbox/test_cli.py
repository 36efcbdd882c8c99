"""The command line: starts, serves, refuses non-loopback hosts, stops on SIGTERM."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import requests

from .calls import TIMEOUT

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "sms_sandbox"]


class Output:
    """Reads a process's stdout on a thread, so the test can wait with a timeout."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        with process.stdout:
            for line in process.stdout:
                self.lines.put(line)

    def next_line(self, seconds: float = 10.0) -> str:
        return self.lines.get(timeout=seconds)

    def rest(self) -> str:
        self.reader.join(timeout=10)
        return "".join(self.lines.queue)


def test_cli_serves_until_terminated():
    process = subprocess.Popen([*COMMAND, "--port", "0", "--quiet", "--fault", "ip1=500"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    output = Output(process)
    try:
        url = re.search(r"on (http://127\.0\.0\.1:\d+)", output.next_line()).group(1)

        assert requests.get(url + "/messages.json", timeout=TIMEOUT).json() == []
        state = requests.get(url + "/_sandbox/state", timeout=TIMEOUT).json()
        assert state["faults"] == {"ip1": {"fault": "500", "remaining": None}}
    finally:
        process.terminate()
        process.wait(timeout=10)
    out, err = output.rest(), process.stderr.read()
    process.stderr.close()
    assert process.returncode == 0, err
    assert f"{url}/signicat" in out and "sandbox-signicat-client" in out and "ip1-12345" in out
    assert "Faults: ip1=500" in out
    assert out.endswith("Sandbox stopped.\n")
    assert err == ""  # --quiet: no request log


def test_cli_refuses_a_non_loopback_host():
    result = subprocess.run([*COMMAND, "--host", "0.0.0.0", "--port", "0"], cwd=ROOT, capture_output=True,
                            text=True, timeout=10)

    assert result.returncode == 2
    assert "loopback" in result.stderr


def test_cli_rejects_an_unknown_fault():
    result = subprocess.run([*COMMAND, "--fault", "signicat=teapot"], cwd=ROOT, capture_output=True,
                            text=True, timeout=10)

    assert result.returncode == 2
    assert "signicat=teapot" in result.stderr


def test_cli_rejects_a_bad_latency():
    result = subprocess.run([*COMMAND, "--latency", "60"], cwd=ROOT, capture_output=True, text=True, timeout=10)

    assert result.returncode == 2
    assert "latency" in result.stderr
