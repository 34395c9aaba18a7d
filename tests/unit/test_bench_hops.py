"""The bench splits opendeur's POST → mail time at 100/s into its hops, from when JetStream
stored each question's events: the p99 target is missed, and this says where the time goes."""

from __future__ import annotations

import time

import pytest

from opendeur.devtools import bench


def test_each_hop_is_the_time_between_its_two_ends() -> None:
    wall = time.time() - time.perf_counter()
    steady = bench.Timings()
    # Two questions, sent 1 s apart (perf_counter), each mailed 30 ms after its POST.
    for i, ref in enumerate(("ZH-1", "ZH-2")):
        sent = 100.0 + i
        steady.sent[ref], steady.accepted[ref] = sent, sent + 0.004
        steady.mailed[ref] = sent + 0.030
        steady.ids[ref] = f"q{i}"
    stored = {
        "q0": {"received": 100.0 + wall + 0.005, "routed": 100.0 + wall + 0.012},
        "q1": {
            "received": 101.0 + wall + 0.007,
            "routed": 101.0 + wall + 0.020,
            "notified": 101.0 + wall + 0.033,
        },
    }
    spans = bench.hop_spans(steady, stored)
    assert spans["POST → received stored"] == pytest.approx([0.005, 0.007], abs=1e-4)
    assert spans["received → routed stored"] == pytest.approx([0.007, 0.013], abs=1e-4)
    assert spans["routed → mail"] == pytest.approx([0.018, 0.010], abs=1e-4)
    # Only the second question's contact.notified was stored.
    assert spans["mail → notified stored"] == pytest.approx([0.003], abs=1e-4)


def test_a_question_without_its_mail_or_events_is_left_out() -> None:
    steady = bench.Timings()
    steady.sent["ZH-1"] = steady.sent["ZH-2"] = 1.0
    steady.mailed["ZH-2"] = 1.02
    steady.ids.update({"ZH-1": "q1", "ZH-2": "q2"})
    # ZH-1 has no mail; ZH-2's routing was not stored (yet).
    stored = {"q1": {"received": 1.0, "routed": 1.0}, "q2": {"received": 1.0}}
    assert all(not v for v in bench.hop_spans(steady, stored).values())
