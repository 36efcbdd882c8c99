"""The watchdog behind every vendor call's deadline, without HTTP: it shuts
down the sockets of an expired call, only those it still owns, and never
those of a call that ended in time."""

from __future__ import annotations

import socket
import time

from django_sms_gateway.backends.http import Call, deadline


def connected_pair():
    left, right = socket.socketpair()
    left.settimeout(5)
    right.settimeout(5)
    return left, right


def test_an_expired_call_shuts_down_its_socket_so_a_blocked_read_returns():
    left, right = connected_pair()
    with deadline(0.2) as call:
        call.attach(left)
        assert left.recv(1) == b""  # the peer sent nothing: only the shutdown ends this read (else a timeout)
    assert call.expired
    left.close()
    right.close()


def test_a_call_that_ended_in_time_leaves_its_socket_alone():
    left, right = connected_pair()
    with deadline(0.1) as call:
        call.attach(left)
    time.sleep(0.3)
    right.sendall(b"x")
    assert left.recv(1) == b"x" and not call.expired
    left.close()
    right.close()


def test_a_socket_taken_over_by_a_later_call_is_not_shut_down_for_the_earlier_one():
    """A kept-alive connection goes back to the pool and serves another call
    while the first is still winding up."""
    left, right = connected_pair()
    first, second = Call(time.monotonic()), Call(time.monotonic() + 60)
    first.attach(left)
    second.attach(left)
    first.expire()
    right.sendall(b"x")
    assert left.recv(1) == b"x" and first.expired and not second.expired
    left.close()
    right.close()


def test_a_socket_attached_after_the_deadline_is_shut_down_at_once():
    left, right = connected_pair()
    call = Call(time.monotonic())
    call.expire()
    call.attach(left)
    assert left.recv(1) == b""
    left.close()
    right.close()
