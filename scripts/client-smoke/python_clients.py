"""Sends every call type through the real Python clients to a running relay, then checks that
the relay's /metrics counted each event as accepted.

    pip install segment-analytics-python customerio-cdp-analytics
    RELAY=http://127.0.0.1:8787 WRITE_KEY=wk_test CIO_KEY=pk_us_0123456789abcdef \
        python python_clients.py

WRITE_KEY and CIO_KEY must be write keys of sources on the relay. CIO_KEY must look like a
Customer.io API key (pk_ or sk_, then us_ or eu_): the Customer.io client then sends it as a
Bearer token instead of Basic auth.
"""

import os
import sys

import customerio.analytics as cio_analytics
import segment.analytics as segment_analytics

from relay_metrics import check_delta, counts

RELAY = os.environ.get("RELAY", "http://127.0.0.1:8787")
WRITE_KEY = os.environ.get("WRITE_KEY", "wk_test")
CIO_KEY = os.environ.get("CIO_KEY", "pk_us_0123456789abcdef")

errors = []


def on_error(error, batch):
    errors.append(f"{error} ({len(batch)} events)")


def every_call(client, tag, user_id, anonymous_id=None, group_id=None, previous_id=None):
    """One call of each of the six types (alias only with a userId, as every client requires);
    returns how many events of each type were sent."""
    ids = {"user_id": user_id, "anonymous_id": anonymous_id}
    client.identify(traits={"email": f"py{tag}@example.com", "plan": "pro"}, **ids)
    client.track(event="Order Completed", properties={"total": 42.5, "tag": tag}, **ids)
    client.page(category="Docs", name="Getting Started", properties={"url": "https://example.com/docs"}, **ids)
    client.screen(category="Onboarding", name="Welcome", properties={"step": 1}, **ids)
    client.group(group_id=group_id or f"acct{tag}", traits={"name": "Acme"}, **ids)
    sent = {"identify": 1, "track": 1, "page": 1, "screen": 1, "group": 1}
    if user_id is not None:
        client.alias(previous_id=previous_id or f"anon{tag}", user_id=user_id)
        sent["alias"] = 1
    return sent


def main():
    before = counts(RELAY)
    expected = {}

    def run(name, client, **calls):
        sent = every_call(client, **calls)
        client.shutdown()  # flushes the queue and waits for the upload thread
        print(f"{name}: sent {sent}")
        for kind, n in sent.items():
            expected[kind] = expected.get(kind, 0) + n

    def segment():
        return segment_analytics.Client(WRITE_KEY, host=RELAY, on_error=on_error)

    run("segment", segment(), tag="-plain", user_id="py-user-1")

    # The module-level client, configured as the README says, with gzip on.
    segment_analytics.write_key = WRITE_KEY
    segment_analytics.host = RELAY
    segment_analytics.gzip = True
    segment_analytics.on_error = on_error
    run("segment gzip", segment_analytics, tag="-gzip", user_id="py-user-2")

    # userId=None goes out as an explicit "userId": null next to the anonymousId.
    run("segment anonymous", segment(), tag="-anon", user_id=None, anonymous_id="py-anon-3")
    # The client stringifies a numeric userId, but sends groupId and previousId as numbers.
    run("segment numeric ids", segment(), tag="-num", user_id=4242, group_id=77, previous_id=99)

    # Customer.io's client sends a pk_/sk_ key as a Bearer token, and no writeKey in the body.
    cio = cio_analytics.Client(CIO_KEY, host=RELAY, on_error=on_error)
    run("customer.io bearer", cio, tag="-cio", user_id="py-user-5")
    cio = cio_analytics.Client(CIO_KEY, host=RELAY, on_error=on_error, gzip=True)
    run("customer.io bearer gzip", cio, tag="-ciogz", user_id="py-user-6")

    for e in errors:
        print(f"client error: {e}")
    ok = check_delta(RELAY, before, expected) and not errors
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
