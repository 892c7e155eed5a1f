"""A bounded load test on loopback: concurrent app users against the local stack.

Each client has its own account and, for the duration, reads its profile, updates it
with an increasing counter, and asks for a chat answer. Reported: requests per second,
statuses, and whether every client's last acknowledged update is what the table holds
(no lost writes), and what the local metric store holds afterwards (its memory is
bounded: local/metric_store.py) with the critical alarms it fired."""

from __future__ import annotations

import collections
import threading
import time

from bench.identity import call

CLIENTS = 50
SECONDS = 60
DEVICE = {"platform": "android", "device_id": "load"}
CONSENTS = {"privacy_policy": {"version": "1", "accepted": True}, "terms_of_service": {"version": "1", "accepted": True}}


def run(stack, clients: int = CLIENTS, seconds: int = SECONDS) -> str:
    base = stack.url
    tokens = []
    for i in range(clients):
        id_token = call(base, "POST", "/local/idp/google/token", {"sub": f"load-{i}"})[1]["id_token"]
        tokens.append(call(base, "POST", "/api/v1/auth/oauth-onboarding", {
            "provider": "google", "id_token": id_token, "device": DEVICE, "consents": CONSENTS})[1]["access_token"])
    statuses: collections.Counter[int] = collections.Counter()
    last_acknowledged: dict[int, int] = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(i: int) -> None:
        counter = 0
        while time.monotonic() < stop_at:
            counter += 1
            answers = [call(base, "GET", "/api/v1/user/profile", token=tokens[i])[0]]
            status, _ = call(base, "PUT", "/api/v1/user/profile", {"given_name": f"n{counter}"}, tokens[i])
            answers.append(status)
            answers.append(call(base, "POST", "/api/v1/chat/messages", {"message": "How am I doing?"}, tokens[i])[0])
            with lock:
                statuses.update(answers)
                if status == 200:
                    last_acknowledged[i] = counter

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 60)
    elapsed = time.monotonic() - started
    lost = sum(1 for i in range(clients)
               if call(base, "GET", "/api/v1/user/profile", token=tokens[i])[1]["given_name"]
               != f"n{last_acknowledged.get(i)}")
    total = sum(statuses.values())
    unexpected = sum(v for k, v in statuses.items() if k not in (200, 202))
    stack.alarms.evaluate_due()
    memory = stack.metrics.memory()
    paged = sorted(a["name"] for a in stack.alarms.snapshot()["alarms"]
                   if a["severity"] == "critical" and a["state"] == "ALARM")
    return "\n".join([
        f"## Load on loopback ({clients} clients, {seconds} s, one local stack process)", "",
        f"{total:,} requests, **{total / elapsed:,.0f} requests/s**; statuses {dict(sorted(statuses.items()))}; "
        f"unexpected answers (every request here should succeed): {unexpected:,} ({unexpected / max(total, 1):.1%}); "
        f"5xx: {sum(v for k, v in statuses.items() if k >= 500)}; lost writes: {lost} of {clients} clients.", "",
        f"Metric store afterwards: {memory['series']:,} series, {memory['buckets']:,} one-minute buckets, "
        f"{memory['cells']:,} cells (cap {stack.metrics.max_cells:,}), **{memory['bytes'] / 1024:,.0f} KiB**; "
        f"critical alarms in ALARM: {', '.join(paged) or 'none'}.", ""])
