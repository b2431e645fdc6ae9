"""Many gRPC worker threads at once: totals stay exact and never go backwards."""

from __future__ import annotations

import threading

from .mapping_testkit import (
    DELTA,
    ORDERS_LABELS,
    counter,
    number,
    request,
    sample,
    wired,
)

SENT = "messaging.client.sent.messages"
THREADS = 4
POINTS = 300


def run_threads(target, count: int) -> None:
    threads = [threading.Thread(target=target, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_concurrent_processes_and_scrapes_stay_exact():
    stage, registry = wired()
    barrier = threading.Barrier(THREADS + 1)
    done = threading.Event()
    readings: list[float] = []

    def producer(index: int) -> None:
        barrier.wait()
        for step in range(POINTS):
            point = number(2, start=step * 10, time=step * 10 + 10)
            stage.process_metrics(
                request(counter(SENT, point, temporality=DELTA), instance=f"pod-{index}")
            )

    def scraper() -> None:
        barrier.wait()
        while not done.is_set():
            readings.append(sample(registry, "queue_messages_sent_total", **ORDERS_LABELS) or 0.0)

    scraping = threading.Thread(target=scraper)
    scraping.start()
    run_threads(producer, THREADS)
    done.set()
    scraping.join()
    assert sample(registry, "queue_messages_sent_total", **ORDERS_LABELS) == THREADS * POINTS * 2
    assert readings == sorted(readings)


def test_one_cumulative_stream_split_across_threads_ends_at_its_last_value():
    stage, registry = wired()

    def worker(index: int) -> None:
        for value in range(index + 1, POINTS + 1, THREADS):
            stage.process_metrics(request(counter(SENT, number(value, start=1, time=value + 1))))

    run_threads(worker, THREADS)
    assert sample(registry, "queue_messages_sent_total", **ORDERS_LABELS) == POINTS
