"""Reads a relay's /metrics: events received by type and outcome, and Customer.io operations
sent by action (a dry-run destination counts what it logs as sent)."""

import re
import time
import urllib.request

LINE = re.compile(r'^cio_relay_(events_received|operations_sent)_total\{(.*)\} (\S+)$')

# The operation each call type becomes under the default presets: one per event.
ACTION = {
    "identify": "createUpdatePerson",
    "track": "trackEvent",
    "page": "trackPageView",
    "screen": "trackScreenView",
    "group": "createUpdateObject",
    "alias": "mergePeople",
}


def counts(relay):
    """{("events", type, outcome) | ("ops", action): n}, summed over sources and destinations."""
    text = urllib.request.urlopen(relay.rstrip("/") + "/metrics").read().decode()
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            if m.group(1) == "events_received":
                key = ("events", labels.get("type"), labels.get("outcome"))
            else:
                key = ("ops", labels.get("action"))
            out[key] = out.get(key, 0) + float(m.group(3))
    return out


def check_delta(relay, before, expected, wait_secs=10):
    """Waits until the relay accepted `expected` ({type: n}) events and sent one operation for
    each. True when that is all it counted: nothing rejected, filtered or unavailable."""
    want_ops = {}
    for kind, n in expected.items():
        want_ops[ACTION[kind]] = want_ops.get(ACTION[kind], 0) + n
    deadline = time.time() + wait_secs
    while True:
        after = counts(relay)
        accepted, others, ops = {}, {}, {}
        for key in set(after) | set(before):
            n = int(after.get(key, 0) - before.get(key, 0))
            if not n:
                continue
            if key[0] == "ops":
                ops[key[1]] = n
            elif key[2] == "accepted":
                accepted[key[1]] = n
            else:
                others[f"{key[1]}/{key[2]}"] = n
        ok = accepted == expected and ops == want_ops and not others
        if ok or time.time() > deadline:
            break
        time.sleep(0.2)
    print(f"relay accepted: {dict(sorted(accepted.items()))}")
    print(f"expected:       {dict(sorted(expected.items()))}")
    print(f"operations:     {dict(sorted(ops.items()))}")
    if ops != want_ops:
        print(f"expected ops:   {dict(sorted(want_ops.items()))}")
    if others:
        print(f"NOT accepted:   {others}")
    return ok
