"""The root of the wedge (django-q2 #23), and automation.execution.cluster's fix for it.

A worker waiting for a task inside django-q2's Queue.get() holds the queue's
read lock; SIGKILLed there, it holds it forever. SafeQueue waits outside the
lock; `free` releases a lock whose holder died.
"""

import multiprocessing
import os
import queue
import signal
import time

import pytest
from django_q.queues import Queue

from automation.execution.cluster import SafeQueue, free

fork = multiprocessing.get_context("fork")


def killed_while_waiting(q):
    """A process blocked in q.get(), SIGKILLed."""
    waiter = fork.Process(target=q.get, daemon=True)
    waiter.start()
    time.sleep(0.5)
    os.kill(waiter.pid, signal.SIGKILL)
    waiter.join(5)


def test_django_q2s_queue_is_wedged_by_a_waiter_killed_in_get():
    q = Queue()
    killed_while_waiting(q)
    q.put("task")
    with pytest.raises(queue.Empty):
        q.get(timeout=2)  # the read lock is held by the dead process


def test_it_is_not_wedged_by_a_waiter_killed_in_get():
    q = SafeQueue()
    killed_while_waiting(q)
    q.put("task")
    assert q.get() == "task"
    assert q.qsize() == 0
    assert q.taken.value == 1


def test_it_hands_each_task_to_one_of_several_waiters():
    q = SafeQueue()
    results = fork.Queue()

    def take():
        results.put(q.get())

    waiters = [fork.Process(target=take, daemon=True) for _ in range(3)]
    for w in waiters:
        w.start()
    for i in range(3):
        q.put(i)
    assert sorted(results.get(timeout=10) for _ in range(3)) == [0, 1, 2]
    for w in waiters:
        w.join(5)


def test_free_releases_a_lock_held_by_a_dead_process():
    lock = fork.Lock()
    holder = fork.Process(target=lambda: (lock.acquire(), time.sleep(60)), daemon=True)
    holder.start()
    time.sleep(0.5)
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(5)
    assert free(lock, "a test lock") is True
    assert lock.acquire(timeout=1)
    lock.release()


def test_free_leaves_a_free_lock_alone():
    lock = fork.Lock()
    assert free(lock, "a test lock") is False
    assert lock.acquire(timeout=1)
