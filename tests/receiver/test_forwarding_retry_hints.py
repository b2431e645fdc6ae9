"""A server's RetryInfo hint is kept within the configured intervals and the retry budget."""

from __future__ import annotations

import math
import random

import grpc
import pytest

from queue_collector.exporters import RetryConfig
from queue_collector.exporters.retry_policy import retry_delay
from tests.support.timing import wait_until

from .test_forwarder import Sink, forwarder_for, request_with


@pytest.fixture
def sink():
    server = Sink()
    yield server
    server.stop()


UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("hint", "expected"),
    [(0.5, 0.5), (0.0, 0.2), (1e9, 2.0), (400.0, 2.0)],
)
def test_usable_hints_are_clamped_to_the_intervals(hint, expected):
    config = RetryConfig(initial_interval_seconds=0.2, max_interval_seconds=2.0, randomization_factor=0.0)
    assert retry_delay(hint, 0, config, random.Random(1)) == expected


@pytest.mark.parametrize("hint", [-5.0, math.nan, math.inf])
def test_unusable_hints_fall_back_to_the_backoff(hint):
    config = RetryConfig(initial_interval_seconds=0.2, max_interval_seconds=2.0, randomization_factor=0.0)
    assert retry_delay(hint, 2, config, random.Random(1)) == pytest.approx(0.2 * 1.5**2)


def test_a_negative_hint_does_not_make_the_forwarder_spin(sink):
    retry = RetryConfig(initial_interval_seconds=0.1, max_interval_seconds=0.2, randomization_factor=0.0,
                        max_elapsed_seconds=5.0)
    sink.failures = [(UNAVAILABLE, -5.0)] * 3
    forwarder = forwarder_for(sink, retry=retry)
    try:
        forwarder.export_traces(request_with("patient"))
        wait_until(lambda: sink.span_names() == ["patient"], message="the span after three refusals")
        gaps = [later - earlier for earlier, later in zip(sink.arrival_times, sink.arrival_times[1:])]
        assert len(gaps) == 3
        assert min(gaps) >= 0.09
    finally:
        forwarder.shutdown(5)


@pytest.mark.parametrize("hint", [400.0, 1e9])
def test_a_hint_beyond_the_budget_is_capped_and_the_request_retried(sink, hint):
    retry = RetryConfig(initial_interval_seconds=0.05, max_interval_seconds=0.2, max_elapsed_seconds=5.0)
    sink.failures = [(UNAVAILABLE, hint)]
    forwarder = forwarder_for(sink, retry=retry)
    try:
        forwarder.export_traces(request_with("kept"))
        wait_until(lambda: sink.span_names() == ["kept"], message="the retried span")
        assert forwarder.statistics().failed_requests == 0
    finally:
        forwarder.shutdown(5)


def test_the_rest_of_the_budget_is_waited_out_for_one_more_attempt(sink):
    # The delay (1 s) is longer than the whole budget (0.3 s): wait 0.3 s, then try once more.
    retry = RetryConfig(initial_interval_seconds=1.0, max_interval_seconds=1.0, randomization_factor=0.0,
                        max_elapsed_seconds=0.3)
    sink.failures = [(UNAVAILABLE, None)]
    forwarder = forwarder_for(sink, retry=retry)
    try:
        forwarder.export_traces(request_with("last-chance"))
        wait_until(lambda: sink.span_names() == ["last-chance"], message="the span on the last attempt")
        first, second = sink.arrival_times
        assert 0.25 <= second - first < 0.9
        assert forwarder.statistics().failed_requests == 0
    finally:
        forwarder.shutdown(5)


def test_the_request_is_dropped_when_the_last_attempt_fails_too(sink):
    retry = RetryConfig(initial_interval_seconds=1.0, max_interval_seconds=1.0, randomization_factor=0.0,
                        max_elapsed_seconds=0.3)
    sink.failures = [(UNAVAILABLE, None)] * 2
    forwarder = forwarder_for(sink, retry=retry)
    try:
        forwarder.export_traces(request_with("lost"))
        wait_until(lambda: forwarder.statistics().failed_requests == 1, message="the dropped request")
        assert sink.attempts == 2
    finally:
        forwarder.shutdown(5)
