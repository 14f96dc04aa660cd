"""resume() and merge(): the pure halves of "no gap, no duplicate" (protocol.md §2.2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.history import HistoryResult, Merged, NotRecovered, Publication, Replay, Stream, merge, resume
from hub.protocol.commands import Position


def pub(seq: int, epoch: str = "e", ts: float = 100.0) -> Publication:
    return Publication("kds:1", seq, epoch, "x", b"{}", ts)


def hist(seqs: list[int], top: int, epoch: str = "e") -> HistoryResult:
    return HistoryResult([pub(s, epoch) for s in seqs], Position(top, epoch))


@pytest.mark.parametrize(
    ("history", "since", "expected"),
    [
        (hist([18, 19, 20], 20), Position(17, "e"), [18, 19, 20]),
        (hist([15, 16, 17, 18], 18), Position(17, "e"), [18]),
        (hist([], 17), Position(17, "e"), []),
        (hist([19, 20], 20), Position(17, "e"), None),  # history no longer reaches 18
        (hist([18, 19], 20), Position(17, "e"), None),  # history does not reach the top
        (hist([18, 20], 20), Position(17, "e"), None),  # hole
        (hist([18], 18), Position(17, "other"), None),  # epoch changed
        (hist([], 5), Position(9, "e"), None),  # client ahead of the stream
    ],
)
def test_resume_table(history: HistoryResult, since: Position, expected: list[int] | None) -> None:
    outcome = resume(history, since)
    if expected is None:
        assert isinstance(outcome, NotRecovered)
    else:
        assert isinstance(outcome, Replay) and [p.seq for p in outcome.publications] == expected


def test_merge_dedupes_sorts_and_drops_old() -> None:
    merged = merge([pub(3), pub(4)], [pub(5), pub(4), pub(6), pub(2)], after=2)
    assert merged == Merged([pub(3), pub(4), pub(5), pub(6)], complete=True)


def test_merge_reports_a_hole() -> None:
    assert merge([pub(3)], [pub(5)], after=2).complete is False
    assert merge([], [pub(4)], after=2).complete is False


@given(
    top=st.integers(0, 40),
    since=st.integers(0, 40),
    live=st.integers(0, 10),
    overlap=st.integers(0, 5),
)
def test_replay_plus_buffer_is_exactly_the_missing_range(top: int, since: int, live: int, overlap: int) -> None:
    """Whatever interleaving of history read and live buffering, the client gets since+1..top+live once each."""
    if since > top:
        since, top = top, since
    replay = resume(hist(list(range(1, top + 1)), top), Position(since, "e"))
    assert isinstance(replay, Replay)
    buffered = [pub(s) for s in range(max(1, top + 1 - overlap), top + live + 1)]  # may re-deliver a few
    merged = merge(replay.publications, buffered, after=since)
    assert merged.complete
    assert [p.seq for p in merged.publications] == list(range(since + 1, top + live + 1))


def test_stream_size_and_ttl() -> None:
    stream = Stream(size=3, ttl_s=10.0, epoch="e")
    for i in range(5):
        stream.next("kds:1", "x", b"{}", ts=100.0 + i, keep=True)
    assert [p.seq for p in stream.read(0, now=104.0).publications] == [3, 4, 5]
    assert [p.seq for p in stream.read(0, now=113.5).publications] == [5]  # older than 10 s are gone
    assert stream.read(None, now=104.0).publications == () and stream.top == Position(5, "e")


def test_conflated_publications_advance_seq_without_history() -> None:
    stream = Stream(size=3, ttl_s=10.0)
    stream.next("gps:fleet", "gps.position", b"{}", ts=1.0, keep=False)
    stream.next("gps:fleet", "gps.position", b"{}", ts=1.0, keep=False)
    assert stream.seq == 2 and stream.read(0, now=1.0).publications == []
