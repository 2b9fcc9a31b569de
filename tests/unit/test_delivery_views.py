"""How the delivery log reads (http-api.md §10.6): redacted URLs, states from attempts and final outcomes."""

from __future__ import annotations

from api.delivery_views import delivery_item, delivery_state, redacted_url


def test_urls_lose_userinfo_and_query_values() -> None:
    assert redacted_url("https://ann:pw@hooks.example.com/run-done?token=abc&x=") == (
        "https://hooks.example.com/run-done?token=***&x=***"
    )
    assert redacted_url("http://127.0.0.1:9000/hook") == "http://127.0.0.1:9000/hook"


def test_states_follow_the_run_and_the_last_attempt() -> None:
    retry = {"attempt": 1, "outcome": "retry"}
    assert delivery_state([], run_ended=False, final=None) == "pending"
    assert delivery_state([], run_ended=True, final=None) == "pending"
    assert delivery_state([retry], run_ended=True, final=None) == "delivering"
    assert (
        delivery_state([retry, {"attempt": 2, "outcome": "delivered"}], run_ended=True, final=None)
        == "delivered"
    )
    assert delivery_state([{"attempt": 1, "outcome": "gone"}], run_ended=True, final=None) == "gone"
    assert delivery_state([retry], run_ended=True, final="failed") == "failed"


def test_an_item_shows_the_next_attempt_only_while_delivering() -> None:
    attempts = [
        {"attempt": 1, "started_at": "t1", "outcome": "retry", "next_attempt_at": "t2", "status_code": 500}
    ]
    item = delivery_item("http://h/x", "wh_1", attempts, run_finished_at="t0", final=None)
    assert item["state"] == "delivering"
    assert item["next_attempt_at"] == "t2"
    assert item["created_at"] == "t0"
    assert item["attempts"][0]["status_code"] == 500
    assert "next_attempt_at" not in item["attempts"][0]
    failed = delivery_item("http://h/x", "wh_1", attempts, run_finished_at="t0", final="failed")
    assert failed["next_attempt_at"] is None


def test_a_cancelled_delivery_has_ended() -> None:
    retry = {"attempt": 1, "outcome": "retry", "next_attempt_at": "t2"}
    item = delivery_item("http://h/x", "wh_1", [retry], run_finished_at="t0", final="cancelled")
    assert item["state"] == "cancelled"
    assert item["next_attempt_at"] is None


def test_a_redelivery_round_follows_its_own_attempts_and_lists_every_attempt() -> None:
    attempts = [
        {"attempt": 1, "started_at": "t1", "outcome": "delivered"},
        {"attempt": 2, "started_at": "t2", "outcome": "retry", "next_attempt_at": "t3"},
    ]
    started = delivery_item(
        "http://h/x", "wh_1", attempts[:1], run_finished_at="t0", final=None, first_attempt=2
    )
    assert started["state"] == "pending", "the redelivery has not tried yet"
    assert started["delivered_at"] == "t1"
    retrying = delivery_item(
        "http://h/x", "wh_1", attempts, run_finished_at="t0", final=None, first_attempt=2
    )
    assert retrying["state"] == "delivering"
    assert retrying["next_attempt_at"] == "t3"
    assert [attempt["attempt"] for attempt in retrying["attempts"]] == [1, 2]
    again = [*attempts, {"attempt": 3, "started_at": "t3", "outcome": "delivered"}]
    delivered = delivery_item(
        "http://h/x", "wh_1", again, run_finished_at="t0", final="delivered", first_attempt=2
    )
    assert delivered["delivered_at"] == "t3", "the latest delivery"
