"""hypofuzz_nb.scheduler: which test runs the next batch."""

from __future__ import annotations

import pytest

from hypofuzz_nb.scheduler import Scheduler


def test_scheduler_prefers_the_test_that_finds_behaviors_but_starves_none():
    scheduler = Scheduler(3, fair_every=3)
    picks = []
    for _ in range(300):
        chosen = scheduler.pick([0, 1, 2])
        picks.append(chosen)
        scheduler.record(chosen, 100, 10 if chosen == 0 else 0)
    assert picks[:3] and set(picks[:3]) == {0, 1, 2}  # every test runs once first
    assert picks.count(0) > picks.count(1) + picks.count(2)
    # never starved: each test runs at least once in every window of 2 * 3 picks
    for start in range(3, len(picks) - 6):
        assert {1, 2} <= set(picks[start : start + 6]), start


def test_scheduler_refuses_an_empty_choice():
    with pytest.raises(ValueError, match="nothing to schedule"):
        Scheduler(1).pick([])


def _shares(scheduler: Scheduler, n: int, picks: int, batch) -> list[float]:
    """Run ``picks`` simulated batches; ``batch(index, own_batches) -> (seconds, new)``."""
    seconds = [0.0] * n
    own = [0] * n
    for _ in range(picks):
        chosen = scheduler.pick(list(range(n)))
        own[chosen] += 1
        cost, new = batch(chosen, own[chosen])
        scheduler.record(chosen, 100, new, seconds=cost)
        seconds[chosen] += cost
    return [s / sum(seconds) for s in seconds]


def test_scheduler_keeps_time_on_a_test_still_climbing_a_chain():
    # Test 0 finds its next step every 40 of its batches (4 s of its own time); the
    # other four found everything at once. Counted over a window of recent batches,
    # test 0 looks like the others between its finds and gets a fifth of the time.
    shares = _shares(
        Scheduler(5, fair_every=3),
        5,
        2000,
        lambda i, k: (0.1, 1 if (i == 0 and k % 40 == 0) or k == 1 else 0),
    )
    assert shares[0] > 0.5
    assert min(shares[1:]) > 0.05  # the fair share of time still reaches every test


def test_scheduler_fair_share_is_a_share_of_the_time_not_of_the_picks():
    # Test 0 finds something in every 0.05 s batch; test 1 finds nothing in 2 s
    # batches. A third of the picks would give test 1 nearly all the time.
    shares = _shares(
        Scheduler(2, fair_every=3), 2, 300, lambda i, k: (0.05, 1) if i == 0 else (2.0, 0)
    )
    assert shares[0] > 0.6
    assert shares[1] > 0.25


def test_scheduler_gives_a_fast_test_more_time_than_a_slow_one_finding_as_little():
    # Test 0 runs 100 inputs in 0.05 s, test 1 runs 20 inputs in 2 s; neither finds
    # anything new. Per input test 1 looked as promising; per second it is not.
    scheduler = Scheduler(2, fair_every=3)
    seconds = {0: 0.0, 1: 0.0}
    for _ in range(300):
        chosen = scheduler.pick([0, 1])
        cost = 0.05 if chosen == 0 else 2.0
        seconds[chosen] += cost
        scheduler.record(chosen, 100 if chosen == 0 else 20, 0, seconds=cost)
    picks_0 = seconds[0] / 0.05
    picks_1 = seconds[1] / 2.0
    assert picks_0 > 1.5 * picks_1
    # Fairness counts seconds: the slow test's long batches do not crowd out the fast
    # one, and the slow one still gets a fair share of the time.
    total = seconds[0] + seconds[1]
    assert 0.15 * total <= seconds[1] <= 0.85 * total
