//! Micro-benchmarks of the per-event path: trigger evaluation against the full default
//! subscription table, mapping and building each action's operation, serialising a full batch
//! body, and ingest parsing of a 100-event `/v1/batch` body. Run with `cargo bench --bench pipeline`; figures go to docs/performance.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};

use cio_relay::actions::Mode;
use cio_relay::config::{self, Destination};
use cio_relay::preview::{process, ModeChoice};

fn destination() -> Destination {
    let raw = config::load(None).expect("embedded default");
    let mut cfg = config::resolve(raw).expect("resolves");
    cfg.destinations.remove(0)
}

/// One representative event per preset.
fn events() -> Vec<(&'static str, Value)> {
    let ctx = json!({"ip":"203.0.113.9","library":{"name":"analytics.js","version":"2.11.1"},
        "device":{"token":"tok-1","type":"ios"},"app":{"version":"1.2.3"},
        "page":{"url":"https://example.com/p"},"userAgent":"Mozilla/5.0"});
    let ts = "2024-06-01T10:00:00.123Z";
    vec![
        (
            "identify",
            json!({"type":"identify","userId":"user_1","anonymousId":"anon_1","messageId":"m1","timestamp":ts,
            "traits":{"email":"jane@example.com","name":"Jane","plan":"pro","createdAt":"2024-01-15T08:30:00Z","logins":7,"address":{"city":"Oslo"}},"context":ctx}),
        ),
        (
            "track",
            json!({"type":"track","event":"Order Completed","userId":"user_1","anonymousId":"anon_1","messageId":"m2","timestamp":ts,
            "properties":{"order_id":"o-1","total":99.5,"shipped_at":"2024-06-02T08:00:00Z","items":[{"sku":"A"}]},"context":ctx}),
        ),
        (
            "page",
            json!({"type":"page","name":"Pricing","userId":"user_1","messageId":"m3","timestamp":ts,
            "properties":{"url":"https://example.com/pricing","title":"Pricing","path":"/pricing"},"context":ctx}),
        ),
        (
            "screen",
            json!({"type":"screen","name":"Checkout","anonymousId":"anon_1","messageId":"m4","timestamp":ts,"properties":{"step":2},"context":ctx}),
        ),
        (
            "group",
            json!({"type":"group","groupId":"acme","userId":"user_1","messageId":"m5","timestamp":ts,
            "traits":{"objectTypeId":"3","created_at":"2020-05-01T00:00:00Z","objectAttributes":{"industry":"Retail"},"relationshipAttributes":{"role":"owner"}}}),
        ),
        (
            "alias",
            json!({"type":"alias","userId":"user_1","previousId":"anon_1","messageId":"m6","timestamp":ts}),
        ),
        (
            "device",
            json!({"type":"track","event":"Application Opened","userId":"user_1","messageId":"m7","timestamp":ts,"context":ctx}),
        ),
        (
            "delivery",
            json!({"type":"track","event":"Report Delivery Event","userId":"user_1","messageId":"m8","timestamp":ts,
            "properties":{"deliveryId":"d1","metric":"opened"}}),
        ),
    ]
}

fn triggers(c: &mut Criterion) {
    let dest = destination();
    let evs = events();
    let mut g = c.benchmark_group("trigger");
    g.throughput(Throughput::Elements(evs.len() as u64));
    g.bench_function("full default table, 8 events", |b| {
        b.iter(|| {
            let mut n = 0;
            for (_, e) in &evs {
                for s in &dest.subscriptions {
                    n += usize::from(s.trigger.matches(black_box(e)));
                }
            }
            n
        })
    });
    g.finish();
}

fn actions(c: &mut Criterion) {
    let dest = destination();
    let mut g = c.benchmark_group("map_and_build");
    g.throughput(Throughput::Elements(1));
    for (name, e) in events() {
        let subs: Vec<_> = dest
            .subscriptions
            .iter()
            .filter(|s| s.trigger.matches(&e))
            .collect();
        g.bench_function(name, |b| {
            b.iter(|| {
                for s in &subs {
                    let _ = black_box(s.run(black_box(&e), Mode::Batch));
                }
            })
        });
    }
    g.bench_function("process (match + build), track", |b| {
        let e = &events()[1].1;
        b.iter(|| black_box(process(&dest, black_box(e), ModeChoice::Auto)))
    });
    g.finish();
}

fn batch_body(c: &mut Criterion) {
    let dest = destination();
    let track = &events()[1].1;
    let ops: Vec<Value> = (0..50)
        .map(|_| process(&dest, track, ModeChoice::Auto).ops.remove(0).body)
        .collect();
    let mut g = c.benchmark_group("serialize");
    g.throughput(Throughput::Elements(ops.len() as u64));
    g.bench_function("batch of 50 track operations", |b| {
        b.iter(|| {
            let parts: Vec<Vec<u8>> = ops.iter().map(|o| serde_json::to_vec(o).unwrap()).collect();
            let mut body = Vec::with_capacity(parts.iter().map(Vec::len).sum::<usize>() + 64);
            body.extend_from_slice(b"{\"batch\":[");
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(p);
            }
            body.extend_from_slice(b"]}");
            black_box(body)
        })
    });
    g.finish();
}

/// What ingest does with a 100-event `/v1/batch` body: read the envelope, split the items,
/// parse each and check and normalize it (messageId, timestamps) as Segment's API does.
fn ingest_batch(c: &mut Criterion) {
    use cio_relay::event::{Arrival, Fields, Origin, Rules, SegmentEvent};
    let events: Vec<String> = (0..100)
        .map(|n| {
            format!(
                r#"{{"type":"track","event":"Order Completed","userId":"user_{n}","anonymousId":"anon-{n}","messageId":"m-{n}","timestamp":"2024-06-01T10:00:00.000Z","properties":{{"order_id":"o-{n}","total":99.5,"currency":"USD","shipped_at":"2024-06-02T08:00:00Z","items":[{{"sku":"A-1","qty":2}}]}},"context":{{"ip":"203.0.113.9","library":{{"name":"analytics-node","version":"3.1.0"}}}}}}"#
            )
        })
        .collect();
    let body = format!(
        r#"{{"batch":[{}],"sentAt":"2024-06-01T10:00:01.000Z","writeKey":"k"}}"#,
        events.join(",")
    );
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        batch: &'a serde_json::value::RawValue,
    }
    let arrival = Arrival {
        rules: Rules {
            origin: Origin::Api,
            require_ids: true,
        },
        path_type: None,
        received_at: chrono::Utc::now(),
    };
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(100));
    g.bench_function(
        "parse, normalize and serialize a 100-event batch body",
        |b| {
            b.iter(|| {
                let env: Envelope = serde_json::from_str(black_box(&body)).unwrap();
                let items: Vec<&serde_json::value::RawValue> =
                    serde_json::from_str(env.batch.get()).unwrap();
                let mut n = 0;
                for raw in items {
                    let fields = Fields::parse(raw.get()).unwrap();
                    if let Ok(event) = SegmentEvent::accept(fields, &arrival) {
                        n += event.to_json().len();
                    }
                }
                n
            })
        },
    );
    g.finish();
}

criterion_group!(benches, triggers, actions, batch_body, ingest_batch);
criterion_main!(benches);
