"""The bench splits opendeur's POST → mail time at 100/s into its hops, from when JetStream
stored each question's events: the p99 target is missed, and this says where the time goes."""

from __future__ import annotations

import time

from opendeur.devtools import bench


def test_each_hop_is_the_time_between_its_two_ends() -> None:
    wall = time.time() - time.perf_counter()
    steady = bench.Timings()
    # Two questions: sent at 0 and 1 s (perf_counter), stored and mailed after fixed waits.
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
    hops = bench.hops(steady, stored)
    assert hops["POST → received stored"]["count"] == 2
    assert abs(hops["POST → received stored"]["max_ms"] - 7.0) < 0.1
    assert abs(hops["received → routed stored"]["max_ms"] - 13.0) < 0.1
    assert abs(hops["routed → mail"]["max_ms"] - 18.0) < 0.1
    # Only the second question's contact.notified was stored.
    assert hops["mail → notified stored"]["count"] == 1
    assert abs(hops["mail → notified stored"]["max_ms"] - 3.0) < 0.1


def test_a_question_without_its_mail_or_events_is_left_out() -> None:
    steady = bench.Timings()
    steady.sent["ZH-1"] = steady.sent["ZH-2"] = 1.0
    steady.mailed["ZH-2"] = 1.02
    steady.ids.update({"ZH-1": "q1", "ZH-2": "q2"})
    # ZH-1 has no mail; ZH-2's routing was not stored (yet).
    assert (
        bench.hops(steady, {"q1": {"received": 1.0, "routed": 1.0}, "q2": {"received": 1.0}}) == {}
    )
