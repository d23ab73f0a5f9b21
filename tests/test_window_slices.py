"""Window.slices: the time parts of a fetch must tile the window exactly."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from vector_sync.models import Window

START = datetime(2026, 3, 1, 0, 0, 0, 123456, tzinfo=timezone.utc)


def test_slices_tile_the_window_on_whole_seconds():
    window = Window(START, START + timedelta(days=3, hours=1, microseconds=7))
    parts = window.slices(4)
    assert len(parts) == 4
    assert parts[0].start == window.start and parts[-1].end == window.end
    assert all(a.end == b.start for a, b in zip(parts, parts[1:]))
    assert all(p.start.microsecond == 0 for p in parts[1:])
    lengths = [p.end - p.start for p in parts]
    assert max(lengths) - min(lengths) <= timedelta(seconds=1)
    moment = START + timedelta(days=1, seconds=5)
    assert sum(p.contains(moment) for p in parts) == 1


def test_a_short_window_gives_fewer_slices_never_empty_ones():
    window = Window(START, START + timedelta(seconds=2))
    parts = window.slices(8)
    assert len(parts) == 2
    assert parts[0].start == window.start and parts[0].end == parts[1].start and parts[1].end == window.end
    assert all(p.start < p.end for p in parts)
    instant = Window(START, START)
    assert instant.slices(4) == [instant]
