"""A service's heap after start-up: what start-up left as garbage is collected, the rest is frozen
out of the collector's generations, and young objects are collected in larger steps."""

import gc
import weakref

from opendeur.runtime import GC_THRESHOLDS, settle_heap


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_settle_heap_collects_start_up_garbage_and_freezes_what_lives_on() -> None:
    before = gc.get_threshold()
    gc.disable()  # no automatic collection may free the cycle first
    try:
        garbage, kept = Node(), Node()
        gone = weakref.ref(garbage)
        del garbage
        assert gone() is not None  # a cycle outlives its last name until a collection

        frozen = settle_heap()

        assert gone() is None  # start-up garbage is not frozen for the life of the process
        assert frozen == gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS
        # What lives on is out of every generation a collection walks.
        assert not any(o is kept for g in range(3) for o in gc.get_objects(g))
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        gc.enable()
