"""The arithmetic and tables of ``make bench-peers`` (benchmarks/peers.py),
on made-up figures: no peer installed, nothing timed."""

from __future__ import annotations

import pytest

from benchmarks import peers
from benchmarks.peers import (
    FLOOR,
    OTP_TWILIO,
    OURS,
    OURS_OFF,
    TWO_FACTOR,
    Blocks,
    Failures,
    Outcome,
    Rates,
    Report,
)


def _blocks(name: str, per_round: list[float], cpu_per_call: float) -> Blocks:
    blocks = Blocks(name)
    for value in per_round:
        blocks.add([value] * 4, cpu_per_call * 4)
    return blocks


def _report(ours_latency: float, ours_cpu: float, ours_multi: float) -> Report:
    blocks = {
        FLOOR: _blocks(FLOOR, [0.020, 0.022], 0.001),
        OURS: _blocks(OURS, [0.020 * ours_latency, 0.022 * ours_latency], ours_cpu),
        OURS_OFF: _blocks(OURS_OFF, [0.021, 0.023], 0.002),
        TWO_FACTOR: _blocks(TWO_FACTOR, [0.020, 0.022], 0.002),
        OTP_TWILIO: _blocks(OTP_TWILIO, [0.021, 0.023], 0.003),
    }
    rates = {name: Rates([40.0], [200.0]) for name in (OURS_OFF, TWO_FACTOR, OTP_TWILIO)}
    rates[OURS] = Rates([40.0], [ours_multi])
    outcome = Outcome("raises ConnectionError", 0.01)
    failures = {
        OURS: Failures(outcome, outcome, Outcome("raises DeliveryFailed", 5.0), Outcome("x", 5.0), "call 4"),
        TWO_FACTOR: Failures(outcome, None, Outcome("still waiting", 8.0, finished=False), None),
    }
    sql = {name: (2, 2, 2) for name in (OURS, OURS_OFF)} | {TWO_FACTOR: (0, 1, 1), OTP_TWILIO: (1, 2, 1)}
    return Report(blocks, sql, {}, rates, failures, threads=8)


def test_ratios_are_taken_round_by_round_against_the_best_peer_of_that_round():
    assert peers.ratios([2.0, 3.0], [1.0, 2.0]) == [2.0, 1.5]
    assert peers.best_per_round({"a": [1.0, 5.0], "b": [2.0, 4.0]}) == [1.0, 4.0]


def test_spread_is_the_median_and_quartiles():
    assert peers.spread([1.0, 2.0, 3.0, 4.0, 5.0]) == (3.0, 2.0, 4.0)
    assert peers.spread([7.0]) == (7.0, 7.0, 7.0)


def test_blocks_give_cpu_per_call_per_block():
    blocks = Blocks("x")
    blocks.add([0.02, 0.03], 0.004)
    blocks.add([0.01, 0.01, 0.04, 0.04], 0.004)
    assert blocks.calls == 6
    assert blocks.cpu_ms == pytest.approx([2.0, 1.0])
    assert blocks.medians == pytest.approx([0.025, 0.025])


def test_targets_pass_only_when_ours_is_no_slower_no_costlier_and_no_less_parallel():
    met = peers.targets(_report(ours_latency=1.0, ours_cpu=0.002, ours_multi=200.0))
    assert [ok for *_, ok in met] == [True, True, True]
    missed = peers.targets(_report(ours_latency=1.05, ours_cpu=0.0025, ours_multi=190.0))
    assert [ok for *_, ok in missed] == [False, False, False]
    assert missed[0][1] == "1.050"
    assert missed[1][1] == "1.250"


def test_render_shows_every_contender_the_targets_and_what_a_dead_vendor_did():
    text = peers.render(_report(ours_latency=1.1, ours_cpu=0.003, ours_multi=180.0))
    for name in (FLOOR, OURS, OURS_OFF, TWO_FACTOR, OTP_TWILIO):
        assert f"| {name} " in text
    assert "0 / 1 (1)" in text  # django-two-factor-auth's SQL: none per send, one per verify
    assert "FAIL" in text
    assert "> 8 s (still waiting)" in text
    assert "ours, limits on, call 4" in text


def test_describe_names_the_exception_and_flags_a_vendor_address_in_its_text():
    assert peers.describe("We sent a code") == "returns 'We sent a code'"
    leak = peers.describe(error=OSError("HTTPConnectionPool(host='127.0.0.1', port=9)"), hosts=("127.0.0.1",))
    assert leak == "raises OSError; its text names the vendor's address"
    assert peers.describe(error=ValueError("Please try again"), hosts=("127.0.0.1",)) == (
        "raises ValueError: 'Please try again'"
    )


def test_transaction_control_is_not_counted_as_a_statement():
    assert peers.statements(["BEGIN", "UPDATE x", "COMMIT", "SAVEPOINT s", "SELECT 1"]) == ["UPDATE x", "SELECT 1"]


def test_without_the_peers_installed_the_command_says_how_to_get_them(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_twilio(name, *args, **kwargs):
        if name in ("twilio", "otp_twilio"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_twilio)
    assert peers.main([]) == 2
    assert "make bench-peers" in capsys.readouterr().err
