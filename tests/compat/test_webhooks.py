"""Webhooks through MLflow's client (MLflow 3.3+), and webhooks that also
subscribe to mlbox's extra events read back through that client.

Every webhook here is DISABLED, so nothing is ever delivered. The URL is an
https URL with a public address because real MLflow accepts nothing else
by default (the suite also runs against it)."""
import pytest

from conftest import unique

HOOK_URL = "https://1.1.1.1/mlbox-compat-hook"


@pytest.fixture
def webhooks(client):
    if not hasattr(client, "create_webhook"):
        pytest.skip("this MLflow client has no webhooks API")
    return client


def event_pairs(events):
    return sorted((str(e.entity), str(e.action)) for e in events)


def test_webhook_lifecycle_through_client(webhooks):
    name = unique("hook")
    wh = webhooks.create_webhook(name=name, url=HOOK_URL, events=["model_version.created"],
                                 description="d", secret="s3cret", status="DISABLED")
    assert wh.name == name and wh.url == HOOK_URL and str(wh.status) == "DISABLED"
    got = webhooks.get_webhook(wh.webhook_id)
    assert event_pairs(got.events) == event_pairs(wh.events)
    upd = webhooks.update_webhook(wh.webhook_id, events=["registered_model.created", "model_version.created"])
    assert len(upd.events) == 2
    assert wh.webhook_id in [w.webhook_id for w in webhooks.list_webhooks(max_results=1000)]
    webhooks.delete_webhook(wh.webhook_id)
    with pytest.raises(Exception):
        webhooks.get_webhook(wh.webhook_id)


@pytest.mark.mlbox_only
def test_webhook_with_mlbox_events_readable_by_client(webhooks, api):
    # mlbox's extra events are subscribed over the REST API (the client
    # cannot name them); the client must still read the webhook.
    r = api.post("/api/2.0/mlflow/webhooks", {
        "name": unique("mixed"), "url": HOOK_URL, "status": "DISABLED",
        "events": [{"entity": "MODEL_VERSION", "action": "CREATED"}, "gate.blocked"],
    })
    assert r.status_code == 200, r.text
    body = r.json()["webhook"]
    assert body["events"] == [{"entity": "MODEL_VERSION", "action": "CREATED"}]
    assert body["mlbox_events"] == [{"entity": "GATE", "action": "BLOCKED"}]
    hook_id = body["webhook_id"]

    got = webhooks.get_webhook(hook_id)
    assert event_pairs(got.events) == [("model_version", "created")]
    listed = {w.webhook_id: w for w in webhooks.list_webhooks(max_results=1000)}
    assert hook_id in listed

    # An update from the client names MLflow events only; the extras stay.
    webhooks.update_webhook(hook_id, events=["registered_model.created"])
    body = api.get(f"/api/2.0/mlflow/webhooks/{hook_id}").json()["webhook"]
    assert body["events"] == [{"entity": "REGISTERED_MODEL", "action": "CREATED"}]
    assert body["mlbox_events"] == [{"entity": "GATE", "action": "BLOCKED"}]
    webhooks.delete_webhook(hook_id)
