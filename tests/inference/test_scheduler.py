from dataclasses import dataclass

import pytest

from sphinx_x.inference.scheduler import QueueFullError, Scheduler


@dataclass(eq=False)
class Item:
    prompt_length: int
    cancelled: bool = False


def test_admission_is_first_come_within_slots_and_the_prefill_budget():
    scheduler = Scheduler(max_running=3, max_waiting=5, max_prefill_tokens=100)
    items = [Item(60), Item(30), Item(20), Item(10)]
    for item in items:
        scheduler.add(item)
    assert scheduler.admit() == items[:2]  # 60 + 30 fit the budget, 20 more would not
    assert scheduler.admit() == items[2:3]  # one slot left
    assert scheduler.admit() == [] and list(scheduler.waiting) == items[3:]


def test_a_prompt_longer_than_the_budget_still_runs_alone():
    scheduler = Scheduler(max_running=4, max_waiting=4, max_prefill_tokens=100)
    big, small = Item(500), Item(5)
    scheduler.add(big)
    scheduler.add(small)
    assert scheduler.admit() == [big]
    assert scheduler.admit() == [small]


def test_the_queue_holds_free_slots_plus_max_waiting():
    scheduler = Scheduler(max_running=2, max_waiting=1)
    for _ in range(3):
        scheduler.add(Item(1))
    with pytest.raises(QueueFullError):
        scheduler.add(Item(1))


def test_cancelled_items_leave_the_queue_and_the_running_set():
    scheduler = Scheduler(max_running=1, max_waiting=2)
    running, waiting, kept = Item(1), Item(1), Item(1)
    for item in (running, waiting, kept):
        scheduler.add(item)
    scheduler.admit()
    running.cancelled = waiting.cancelled = True
    assert scheduler.take_cancelled() == [waiting, running]
    assert scheduler.running == [] and list(scheduler.waiting) == [kept]
