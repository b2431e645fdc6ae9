"""Counters: cumulative and delta streams, many processes, restarts, filters, invalid points."""

from __future__ import annotations

import math

from .mapping_testkit import (
    DELTA,
    ORDERS,
    ORDERS_LABELS,
    counter,
    gauge,
    number,
    request,
    sample,
    wired,
)

SENT = "messaging.client.sent.messages"
SENT_TOTAL = "queue_messages_sent_total"


def sent(registry, **labels):
    return sample(registry, SENT_TOTAL, **{**ORDERS_LABELS, **labels})


def test_cumulative_counter_over_several_requests_is_exact():
    stage, registry = wired()
    for time, value in enumerate((3, 7, 7, 12, 40), start=1):
        assert (
            stage.process_metrics(request(counter(SENT, number(value, start=0, time=time)))) is None
        )
        assert sent(registry) == value
    assert sample(registry, "queue_collector_mapping_points_mapped_total") == 5


def test_two_processes_of_one_service_sum():
    stage, registry = wired()
    stage.process_metrics(request(counter(SENT, number(10, time=1)), instance="pod-1"))
    stage.process_metrics(request(counter(SENT, number(4, time=1)), instance="pod-2"))
    stage.process_metrics(request(counter(SENT, number(12, time=2)), instance="pod-1"))
    assert sent(registry) == 16


def test_producer_restart_never_reads_less_and_never_double_counts():
    stage, registry = wired()
    t0, t5 = 1_000, 5_000
    steps = [
        ("pod-1", t0, t0 + 1, 10, 10),
        ("pod-1", t0, t0 + 2, 15, 15),
        ("pod-1", t5, t5 + 1, 2, 17),  # restart: the new start time, counted from zero again
        ("pod-2", t0, t0 + 3, 4, 21),  # a second stream of the same service and queue
    ]
    previous = 0.0
    for instance, start, time, value, expected in steps:
        stage.process_metrics(
            request(counter(SENT, number(value, start=start, time=time)), instance=instance)
        )
        current = sent(registry)
        assert current == expected
        assert current >= previous
        previous = current


def test_reset_without_new_start_time_adds_the_new_value():
    stage, registry = wired()
    stage.process_metrics(request(counter(SENT, number(10, start=5, time=6))))
    stage.process_metrics(request(counter(SENT, number(3, start=5, time=7))))
    assert sent(registry) == 13


def test_out_of_order_cumulative_points_are_ignored():
    stage, registry = wired()
    stage.process_metrics(request(counter(SENT, number(10, start=1, time=20))))
    rejections = stage.process_metrics(request(counter(SENT, number(8, start=1, time=15))))
    stage.process_metrics(request(counter(SENT, number(10, start=1, time=20))))  # a retried export
    assert rejections is None  # stale, not invalid: nothing to report to the client
    assert sent(registry) == 10
    assert (
        sample(registry, "queue_collector_mapping_points_ignored_total", reason="out_of_order") == 2
    )


def test_delta_counter_adds_contiguous_points_and_skips_overlaps():
    stage, registry = wired()
    t0, t1, t2 = 100, 200, 300
    stage.process_metrics(request(counter(SENT, number(5, start=t0, time=t1), temporality=DELTA)))
    stage.process_metrics(request(counter(SENT, number(3, start=t1, time=t2), temporality=DELTA)))
    assert sent(registry) == 8
    # The same window again (a retried export): ignored, not an error of the client.
    retried = stage.process_metrics(
        request(counter(SENT, number(3, start=t1, time=t2), temporality=DELTA))
    )
    assert retried is None
    # A window that partly overlaps counted ones contradicts them: refused and reported.
    overlapping = stage.process_metrics(
        request(counter(SENT, number(9, start=150, time=350), temporality=DELTA))
    )
    assert sent(registry) == 8
    assert (
        sample(registry, "queue_collector_mapping_points_ignored_total", reason="duplicate_delta")
        == 1
    )
    assert overlapping is not None and overlapping.count == 1
    assert "delta point (150, 350] overlaps points already counted" in overlapping.message
    assert (
        sample(registry, "queue_collector_mapping_points_rejected_total", reason="overlapping_delta")
        == 1
    )
    # The next contiguous point is added again.
    stage.process_metrics(request(counter(SENT, number(1, start=t2, time=400), temporality=DELTA)))
    assert sent(registry) == 9


def test_delta_counter_after_a_gap_is_added():
    stage, registry = wired()
    stage.process_metrics(request(counter(SENT, number(5, start=100, time=200), temporality=DELTA)))
    stage.process_metrics(request(counter(SENT, number(2, start=300, time=400), temporality=DELTA)))
    assert sent(registry) == 7


def test_sends_that_failed_are_not_counted_as_sent():
    stage, registry = wired()
    failed = {**ORDERS, "error.type": "timeout"}
    stage.process_metrics(
        request(counter(SENT, number(5, time=1), number(2, time=1, attributes=failed)))
    )
    assert sent(registry) == 5
    assert sample(registry, SENT_TOTAL, **ORDERS_LABELS, error_type="timeout") is None


def test_errors_split_by_operation():
    stage, registry = wired()

    def error(operation: str, value: int, error_type: str = "timeout"):
        attributes = {**ORDERS, "queue.error.operation": operation, "error.type": error_type}
        return number(value, time=1, attributes=attributes)

    stage.process_metrics(
        request(
            counter(
                "queue.errors",
                error("send", 2),
                error("receive", 3),
                error("process", 4),
                error("process", 1, "ValueError"),
                error("settle", 7),
            )
        )
    )
    labels = {**ORDERS_LABELS, "error_type": "timeout"}
    assert sample(registry, "queue_send_errors_total", **labels) == 2
    assert sample(registry, "queue_receive_errors_total", **labels) == 3
    assert sample(registry, "queue_processing_errors_total", **labels) == 4
    assert (
        sample(registry, "queue_processing_errors_total", **{**labels, "error_type": "ValueError"})
        == 1
    )
    assert sample(registry, "queue_collector_mapping_points_mapped_total") == 4


def test_one_source_feeds_several_unified_metrics():
    stage, registry = wired()
    attributes = {**ORDERS, "queue.dead_letter.reason": "ttl_expired"}
    stage.process_metrics(
        request(counter("queue.messages.dead_lettered", number(6, time=1, attributes=attributes)))
    )
    labels = {**ORDERS_LABELS, "reason": "ttl_expired"}
    assert sample(registry, "queue_messages_dead_lettered_total", **labels) == 6
    assert sample(registry, "queue_dlq_messages_total", **labels) == 6


def test_many_message_ids_make_one_unified_series_and_bounded_streams():
    stage, registry = wired()
    points = [
        number(1, time=1, attributes={**ORDERS, "messaging.message.id": f"id-{index}"})
        for index in range(10_000)
    ]
    stage.process_metrics(request(counter(SENT, *points)))
    families = {family.name: family for family in registry.collect()}
    assert len(families["queue_messages_sent"].samples) == 1
    # Cumulative streams cannot be read without their state: beyond the per-source stream
    # limit (1000 by default) their points are dropped, and counted.
    assert sent(registry) == 1_000
    assert sample(registry, "queue_collector_mapping_streams") == 1_000
    assert (
        sample(
            registry, "queue_collector_mapping_stream_limit_points_total", outcome="dropped"
        )
        == 9_000
    )


def test_many_message_ids_on_delta_counters_stay_exact_with_bounded_streams():
    stage, registry = wired()
    points = [
        number(1, start=0, time=1, attributes={**ORDERS, "messaging.message.id": f"id-{index}"})
        for index in range(10_000)
    ]
    stage.process_metrics(request(counter(SENT, *points, temporality=DELTA)))
    families = {family.name: family for family in registry.collect()}
    assert len(families["queue_messages_sent"].samples) == 1
    assert sent(registry) == 10_000
    assert sample(registry, "queue_collector_mapping_streams") == 1_000
    assert (
        sample(
            registry,
            "queue_collector_mapping_stream_limit_points_total",
            outcome="added_without_state",
        )
        == 9_000
    )


def test_missing_service_name_and_provider_specific_defaults():
    stage, registry = wired()
    stage.process_metrics(
        request(
            counter(
                "queue.sqs.throttling_errors",
                number(2, time=1, attributes={"messaging.destination.name": "jobs"}),
            ),
            service=None,
        )
    )
    assert (
        sample(
            registry,
            "aws_sqs_throttling_errors_total",
            service="unknown_service",
            provider="aws_sqs",
            queue="jobs",
        )
        == 2
    )


def test_invalid_points_are_rejected_and_the_rest_is_mapped():
    stage, registry = wired()
    other_queue = {**ORDERS, "messaging.destination.name": "billing"}
    rejections = stage.process_metrics(
        request(
            counter(SENT, number(math.nan, time=1), number(4, time=1, attributes=other_queue)),
            counter("queue.messages.acknowledged", number(-3, time=1)),
            gauge("queue.messages.rejected", number(1, time=1)),
            counter("some.unrelated.metric", number(-1, time=1)),
        )
    )
    assert rejections is not None
    assert rejections.count == 3
    assert (
        "metric messaging.client.sent.messages: value nan is not a finite number"
        in rejections.message
    )
    assert "queue.messages.acknowledged: monotonic sum has negative value" in rejections.message
    assert (
        "metric queue.messages.rejected: a gauge does not fit its mapping rule"
        in rejections.message
    )
    assert sample(registry, SENT_TOTAL, **{**ORDERS_LABELS, "queue": "billing"}) == 4
    assert sent(registry) is None
    rejected = "queue_collector_mapping_points_rejected_total"
    assert sample(registry, rejected, reason="invalid_value") == 2
    assert sample(registry, rejected, reason="type_mismatch") == 1


def test_non_monotonic_sum_for_a_counter_is_rejected():
    stage, registry = wired()
    rejections = stage.process_metrics(request(counter(SENT, number(4, time=1), monotonic=False)))
    assert rejections is not None and rejections.count == 1
    assert "non-monotonic sum does not fit" in rejections.message


def test_points_without_a_timestamp_or_with_no_recorded_value_are_not_added():
    stage, registry = wired()
    stale_marker = number(9, time=3)
    stale_marker.flags = 1
    rejections = stage.process_metrics(request(counter(SENT, number(4, time=0), stale_marker)))
    assert rejections is not None and rejections.count == 1
    assert "no time_unix_nano" in rejections.message
    assert (
        sample(registry, "queue_collector_mapping_points_ignored_total", reason="no_recorded_value")
        == 1
    )
    assert sent(registry) is None


def test_traces_and_logs_pass_through():
    stage, _ = wired()
    assert stage.name == "metric_mapping"
    assert stage.process_traces(object()) is None
    assert stage.process_logs(object()) is None


def test_delta_points_without_a_start_time_follow_the_previous_point():
    stage, registry = wired()
    for time in (1000, 2000, 3000):
        stage.process_metrics(request(counter(SENT, number(5, start=0, time=time), temporality=DELTA)))
    # The same end again tells nothing new: ignored.
    stage.process_metrics(request(counter(SENT, number(5, start=0, time=3000), temporality=DELTA)))
    assert sent(registry) == 15
    assert sample(registry, "queue_collector_mapping_points_ignored_total", reason="out_of_order") == 1


def test_a_delta_point_retried_late_is_added_once():
    stage, registry = wired()
    stage.process_metrics(request(counter(SENT, number(5, start=200, time=300), temporality=DELTA)))
    assert stage.process_metrics(
        request(counter(SENT, number(7, start=100, time=200), temporality=DELTA))
    ) is None
    assert sent(registry) == 12
    # Both windows again: exact duplicates of counted windows, ignored without an error.
    for start, end in ((100, 200), (200, 300)):
        assert stage.process_metrics(
            request(counter(SENT, number(1, start=start, time=end), temporality=DELTA))
        ) is None
    assert sent(registry) == 12
    assert (
        sample(registry, "queue_collector_mapping_points_ignored_total", reason="duplicate_delta")
        == 2
    )


def test_delta_windows_older_than_the_remembered_runs_are_ignored():
    from queue_collector.metric_mapping.streams import MAX_DELTA_RUNS

    stage, registry = wired()
    # Every other window: each is a run of its own, so the oldest runs are forgotten.
    windows = [(100 * index, 100 * index + 50) for index in range(1, MAX_DELTA_RUNS + 3)]
    for start, end in windows:
        stage.process_metrics(request(counter(SENT, number(1, start=start, time=end), temporality=DELTA)))
    assert sent(registry) == len(windows)
    assert len(stage._streams.get(next(iter(stage._streams._streams))).runs) == MAX_DELTA_RUNS
    # A retry of a forgotten window cannot be told from a new one: ignored, never counted twice.
    start, end = windows[0]
    stage.process_metrics(request(counter(SENT, number(1, start=start, time=end), temporality=DELTA)))
    assert sent(registry) == len(windows)
    assert sample(registry, "queue_collector_mapping_points_ignored_total", reason="out_of_order") == 1
    # A gap between remembered runs is still filled.
    start, end = windows[-1]
    stage.process_metrics(request(counter(SENT, number(1, start=end, time=end + 50), temporality=DELTA)))
    assert sent(registry) == len(windows) + 1


def test_an_increase_that_would_make_a_total_infinite_is_refused():
    stage, registry = wired()
    stage.process_metrics(request(counter(SENT, number(1.7e308, start=1, time=2)), instance="pod-1"))
    rejections = stage.process_metrics(
        request(counter(SENT, number(1.7e308, start=1, time=2)), instance="pod-2")
    )
    assert rejections is not None and rejections.count == 1
    assert "would make the total of queue_messages_sent_total infinite" in rejections.message
    assert sent(registry) == 1.7e308
    assert sample(registry, "queue_collector_mapping_points_rejected_total", reason="invalid_value") == 1


def test_a_cumulative_point_that_starts_after_it_ends_is_rejected():
    stage, registry = wired()
    rejections = stage.process_metrics(request(counter(SENT, number(4, start=500, time=200))))
    assert rejections is not None and rejections.count == 1
    assert "start_time_unix_nano 500 is after time_unix_nano 200" in rejections.message
    assert sent(registry) is None
    assert (
        sample(registry, "queue_collector_mapping_points_rejected_total", reason="invalid_timestamp")
        == 1
    )
