"""Upgrade pacing: a few sockets opening at once, the rest waiting for their 101 in order, the overflow refused."""

from __future__ import annotations

import pytest

from hub.server.pacer import UpgradePacer

pytestmark = pytest.mark.timeout(10)


class Socket:
    """A turn as the protocol takes it: started unless its peer went away while it waited."""

    def __init__(self, name: str, started: list[str]) -> None:
        self.name, self._started, self.gone = name, started, False

    def take_turn(self) -> bool:
        if self.gone:
            return False
        self._started.append(self.name)
        return True


class Pacer:
    def __init__(self, limit: int, queue: int) -> None:
        self.started: list[str] = []
        self.refusals = 0
        self.reported: list[int] = []
        self.pacer = UpgradePacer(limit, queue=queue, refused=self._refused, report=self.reported.append)

    def _refused(self) -> None:
        self.refusals += 1

    def socket(self, name: str) -> Socket:
        return Socket(name, self.started)


def test_upgrades_beyond_the_limit_wait_and_start_in_order_as_sockets_finish_opening() -> None:
    p = Pacer(limit=2, queue=10)
    sockets = [p.socket(name) for name in "abcde"]
    assert all(p.pacer.request(s) for s in sockets)
    assert p.started == ["a", "b"]
    assert (p.pacer.opening, p.pacer.waiting) == (2, 3)
    p.pacer.done()
    assert p.started == ["a", "b", "c"]
    p.pacer.done()
    p.pacer.done()
    assert p.started == ["a", "b", "c", "d", "e"]
    assert (p.pacer.opening, p.pacer.waiting) == (2, 0)
    assert p.reported == [1, 2, 3, 2, 1, 0]
    assert p.refusals == 0


def test_a_slot_no_waiting_socket_could_take_goes_to_the_next_upgrade_at_once() -> None:
    p = Pacer(limit=1, queue=10)
    first, second = p.socket("first"), p.socket("second")
    p.pacer.request(first)
    p.pacer.request(second)
    second.gone = True  # its client gave up while it waited
    p.pacer.withdrawn()
    p.pacer.done()  # first is open: second is skipped, nothing is counted for it
    assert (p.pacer.opening, p.pacer.waiting) == (0, 0)
    third = p.socket("third")
    p.pacer.request(third)
    assert p.started == ["first", "third"]
    assert p.pacer.opening == 1


def test_a_socket_that_went_away_while_waiting_takes_no_slot() -> None:
    p = Pacer(limit=1, queue=10)
    sockets = [p.socket(name) for name in "abc"]
    for s in sockets:
        p.pacer.request(s)
    sockets[1].gone = True
    p.pacer.withdrawn()
    p.pacer.done()
    assert p.started == ["a", "c"]
    assert (p.pacer.opening, p.pacer.waiting) == (1, 0)


def test_beyond_the_queue_the_upgrade_is_refused_and_counted() -> None:
    p = Pacer(limit=1, queue=2)
    results = [p.pacer.request(p.socket(name)) for name in "abcd"]
    assert results == [True, True, True, False]
    assert p.refusals == 1
    assert p.started == ["a"]
    assert p.pacer.waiting == 2


def test_limit_zero_starts_every_upgrade_at_once() -> None:
    p = Pacer(limit=0, queue=0)
    assert all(p.pacer.request(p.socket(name)) for name in "abc")
    p.pacer.done()
    assert p.started == ["a", "b", "c"]
    assert (p.pacer.opening, p.pacer.waiting, p.refusals) == (0, 0, 0)


def test_waiting_upgrades_whose_clients_left_do_not_fill_the_queue() -> None:
    p = Pacer(limit=1, queue=2)
    first, left, stays = p.socket("first"), p.socket("left"), p.socket("stays")
    for s in (first, left, stays):
        assert p.pacer.request(s)
    left.gone = True
    p.pacer.withdrawn()  # what the protocol says when a waiting socket's connection is lost
    assert p.pacer.waiting == 1
    assert p.pacer.request(p.socket("late"))  # room again: the one that left no longer counts
    assert p.refusals == 0
    p.pacer.done()
    assert p.started == ["first", "stays"]
    assert (p.pacer.opening, p.pacer.waiting) == (1, 1)
    assert p.reported[-1] == 1
