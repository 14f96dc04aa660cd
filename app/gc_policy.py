"""How the process's cyclic garbage collector runs: tuned for a node that holds thousands of long-lived sockets.

CPython's default thresholds (700, 10, 10) suit short scripts. A hub node keeps every connection's objects alive
for hours, and a reconnect storm grows that heap fast: each growth of a quarter triggers a full collection that
walks every live connection, while every socket on the node waits. Measured on a storm of 5,000 tablets
(``python -m bench --scenarios storm --targets hub``, counting with ``gc.callbacks``): with the defaults the node
spent about 1 s of its 5–6 s of CPU collecting, in 8 full collections of up to 176 ms each; with a young
generation of 50,000 (and the older ones slowed as well) it spent 0.13 s in 12 young collections, longest 34 ms.
Keeping CPython's pace for the older generations (for memory, below) left the storm's figures where they were:
1,646–1,891 hellos/s with the defaults, 2,566–2,909 with the young generation of 50,000.

Nothing is leaked by this: reference counting still frees every object that is not in a cycle at once, and cycles
are found later, once 50,000 net container allocations have happened. The price is that garbage in memory: measured
in the idle scenario (``--scenarios idle``, alternating with the defaults), 2,000 idle sockets cost 7.2 KB each
instead of 5.6, 10,000 cost 6.6 instead of 5.8 (3 to 8 MB per process). The older generations keep CPython's
multipliers (a middle collection every 10 young ones, a full one every 10 middle ones once the heap grew by a
quarter), so garbage that outlived a young collection is still found after a bounded amount of allocation.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "settle_heap"]

YOUNG_THRESHOLD = 50_000  # net allocations of container objects between two young collections
_MIDDLE_EVERY = 10  # young collections per middle one (CPython's default)
_FULL_EVERY = 10  # middle collections per full one (the default; CPython also waits for the heap to grow a quarter)


def settle_heap() -> None:
    """Once start-up is done: freeze what lives as long as the process and set the collector's pace.

    Frozen objects (modules, ORM mappers, settings) are out of every collection's sight, so collections only walk
    what requests and sockets create.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, _MIDDLE_EVERY, _FULL_EVERY)
