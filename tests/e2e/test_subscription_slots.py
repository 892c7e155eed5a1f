"""Issue 12, item 5: each store subscription keeps its own state on the profile; GET
answers the strongest current entitlement; an event only changes its own subscription,
so an appAccountToken that names someone else cannot end their premium."""

import json

from tests.e2e.test_subscriptions import new_user, notify, plan


def apple(stack, user_id, kind, original_transaction_id):
    """A correctly signed App Store notification about one subscription, delivered to the webhook."""
    product = stack.program.settings.stores.premium_products[0]
    payload = stack.store.apple_notification(user_id, kind, product, original_transaction_id=original_transaction_id)
    answer = stack.gateway.handle("POST", "/api/v1/subscriptions/webhook", {}, {"Content-Type": "application/json"},
                                  json.dumps(payload).encode())
    return answer.status, json.loads(answer.body)


def test_a_google_purchase_survives_an_apple_expiry_of_another_subscription(client, stack):
    user_id, token = new_user(client, "two-stores")
    assert notify(client, "google", user_id, 4)[1]["outcome"] == "applied"          # Play: PURCHASED
    assert plan(client, token) == ("premium", "active")
    assert apple(stack, user_id, "SUBSCRIBED", "orig-two-stores")[1]["outcome"] == "applied"
    assert apple(stack, user_id, "EXPIRED", "orig-two-stores")[1]["outcome"] == "applied"
    assert plan(client, token) == ("premium", "active")
    status, body = client.call("GET", "/api/v1/subscriptions", token=token)
    assert body["provider"] == "google"
    # And the other way round: the Play purchase ends, an Apple one is active.
    assert apple(stack, user_id, "DID_RENEW", "orig-two-stores")[1]["outcome"] == "applied"
    assert notify(client, "google", user_id, 13)[1]["outcome"] == "applied"         # Play: EXPIRED
    assert plan(client, token) == ("premium", "active")
    assert client.call("GET", "/api/v1/subscriptions", token=token)[1]["provider"] == "apple"
    assert notify(client, "apple", user_id, "EXPIRED")[0] == 200  # the simulator's default subscription: no entry of hers
    assert apple(stack, user_id, "EXPIRED", "orig-two-stores")[1]["outcome"] == "applied"
    assert plan(client, token) == ("free", "expired")


def test_an_app_account_token_naming_another_user_cannot_downgrade_them(client, stack):
    victim, victim_token = new_user(client, "victim")
    attacker, _ = new_user(client, "attacker")
    assert notify(client, "google", victim, 4)[1]["outcome"] == "applied"
    # The attacker buys on the App Store with the victim's id as appAccountToken, then lets it
    # lapse or asks for a refund: the store's signed notifications name the victim.
    for kind in ("SUBSCRIBED", "EXPIRED", "REFUND", "REVOKE"):
        assert apple(stack, victim, kind, f"orig-of-{attacker[:8]}")[0] == 200
    assert plan(client, victim_token) == ("premium", "active")
    assert client.call("POST", "/api/v1/process/doctor-report", {"results": [{"date": "2026-01-10", "result": {
        "document_type": "other", "summary": "s", "confidence": 0.9, "model": "m", "disclaimer": "d",
        "processed_at": "2026-01-10T00:00:00Z", "observations": []}}]}, token=victim_token)[0] == 202
