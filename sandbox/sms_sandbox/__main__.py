"""Command line: ``python -m sms_sandbox [options]``.

Serves the sandbox on a loopback address until Ctrl-C (or SIGTERM), printing
the base URLs and credentials first.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from .base import is_loopback_host
from .http import Sandbox
from .state import CREDENTIALS, FAULTS, VENDORS


def _fault(value: str) -> tuple[str, str]:
    vendor, equals, fault = value.partition("=")
    if not equals or vendor not in FAULTS or fault not in FAULTS[vendor]:
        raise argparse.ArgumentTypeError(
            f"{value!r}: expected KEY=FAULT, e.g. signicat=500; keys: {', '.join(FAULTS)}; "
            f"faults: {', '.join(FAULTS.get(vendor, FAULTS['signicat']))}"
        )
    return vendor, fault


def _loopback(value: str) -> str:
    if not is_loopback_host(value):
        raise argparse.ArgumentTypeError(
            f"refusing to listen on {value!r}: the sandbox only binds loopback addresses "
            "(127.0.0.0/8, ::1, localhost)"
        )
    return value


def _latency(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 10:
        raise argparse.ArgumentTypeError(f"latency must be seconds from 0 to 10, not {value!r}")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sms_sandbox",
        description=f"Serve imitations of the SMS vendors' APIs ({', '.join(VENDORS)}) on loopback.",
    )
    parser.add_argument("--host", type=_loopback, default="127.0.0.1",
                        help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8025, help="port, 0 for any free one (default 8025)")
    parser.add_argument("--fault", type=_fault, action="append", default=[], metavar="KEY=FAULT",
                        help="start with a fault, e.g. signicat=500 (repeatable)")
    parser.add_argument("--signicat-token-ttl", type=int, default=600, metavar="SECONDS",
                        help="lifetime of Signicat access tokens (default 600)")
    parser.add_argument("--zignsec-webhook-secret", default=CREDENTIALS["zignsec"]["webhook_secret"],
                        metavar="SECRET", help="key of the ZignSec webhook signatures")
    parser.add_argument("--zignsec-delivery-delay", type=float, default=0.05, metavar="SECONDS",
                        help="seconds until a ZignSec session is delivered (default 0.05)")
    parser.add_argument("--latency", type=_latency, default=0.0, metavar="SECONDS",
                        help="delay every vendor answer, like a real vendor's round trip (default 0)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    return parser


def banner(sandbox: Sandbox) -> str:
    """The start-up text: URLs, credentials and active faults."""
    lines = [f"SMS vendor sandbox on {sandbox.url}  (inbox: {sandbox.url}/)"]
    for vendor in VENDORS:
        credentials = dict(CREDENTIALS[vendor])
        if vendor == "zignsec":
            credentials["webhook_secret"] = sandbox.zignsec_webhook_secret
        pairs = "  ".join(f"{name}={value}" for name, value in credentials.items())
        lines.append(f"  {vendor:<10}{sandbox.base_url(vendor)}  {pairs}")
    faults = ", ".join(f"{k}={v['fault']}" for k, v in sandbox.faults.items())
    lines.append(f"Faults: {faults or 'none'}")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sandbox = Sandbox(
        args.host,
        args.port,
        signicat_token_ttl=args.signicat_token_ttl,
        zignsec_webhook_secret=args.zignsec_webhook_secret,
        zignsec_delivery_delay=args.zignsec_delivery_delay,
        log_requests=not args.quiet,
        latency=args.latency,
    )
    for vendor, fault in args.fault:
        sandbox.set_fault(vendor, fault)
    try:
        sandbox.start()
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(banner(sandbox), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
    print("Sandbox stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
