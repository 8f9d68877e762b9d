//! Golden conformance: every corpus event, run through the same path as `cio-relay preview`,
//! must produce exactly the operations (and refusals) of the reference destination.
//!
//! `expected.jsonl` is the target in the relay's default mode (the presets batch); single mode
//! must match `expected-single.jsonl`. Grouping into requests is free, so both sides are cut
//! into operations and compared as multisets per event.

use std::path::Path;

use cio_relay::config::{self, Config};
use cio_relay::preview::{preview_line, ModeChoice};
use serde_json::Value;

use crate::fake_cio::canonical;

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn read_jsonl(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixtures().join("golden").join(name)).expect("fixture");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("fixture line is JSON"))
        .collect()
}

/// The golden settings, read from the file alone (not through `load_resolved`, which would
/// also take `CIO_RELAY_*` variables from the environment running the tests).
fn golden_config() -> Config {
    let text = std::fs::read_to_string(fixtures().join("config/valid/golden.toml"))
        .expect("golden config");
    let raw: config::RawConfig = toml::from_str(&text).expect("golden config parses");
    config::resolve(raw).expect("golden config resolves")
}

/// A line's operations: `(kind, canonical body, headers)` sorted, where kind is `entity` for
/// v2 operations (alone or inside a batch) and `metric` for v1 metrics.
fn operations(line: &Value) -> Vec<(String, String, String)> {
    let mut ops = Vec::new();
    for req in line["requests"].as_array().into_iter().flatten() {
        let url = req["url"].as_str().unwrap_or_default();
        let headers = format!(
            "{}|{}",
            req["headers"]["authorization"].as_str().unwrap_or_default(),
            req["headers"]["content-type"].as_str().unwrap_or_default()
        );
        let origin_and_path = url.to_string();
        if url.ends_with("/api/v2/batch") {
            for op in req["body"]["batch"].as_array().into_iter().flatten() {
                ops.push((
                    origin_and_path.replace("/api/v2/batch", "/api/v2/<op>"),
                    canonical(op),
                    headers.clone(),
                ));
            }
        } else if url.ends_with("/api/v2/entity") {
            ops.push((
                origin_and_path.replace("/api/v2/entity", "/api/v2/<op>"),
                canonical(&req["body"]),
                headers.clone(),
            ));
        } else {
            ops.push((origin_and_path, canonical(&req["body"]), headers.clone()));
        }
    }
    ops.sort();
    ops
}

/// The refusals of a line: `(subscription, status)` sorted.
fn refusals(line: &Value) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = match line.get("errors").and_then(Value::as_array) {
        Some(errs) => errs.iter().map(refusal).collect(),
        None if line["error"].is_object() => vec![refusal(&line["error"])],
        None => Vec::new(),
    };
    out.sort();
    out
}

fn refusal(e: &Value) -> (String, u64) {
    (
        e["preset"].as_str().unwrap_or_default().to_string(),
        e["status"].as_u64().unwrap_or_default(),
    )
}

fn check(expected_file: &str, choice: ModeChoice) {
    let config = golden_config();
    let dest = &config.destinations[0];
    let corpus = read_jsonl("corpus.jsonl");
    let expected = read_jsonl(expected_file);
    assert_eq!(corpus.len(), expected.len());
    let mut failures = Vec::new();
    let mut op_count = 0;
    for (event, want) in corpus.iter().zip(&expected) {
        let got = preview_line(dest, event, choice);
        let mut problems = Vec::new();
        if got["messageId"] != want["messageId"] {
            problems.push("messageId differs".to_string());
        }
        if got["matched"] != want["matched"] {
            problems.push(format!("matched {} != {}", got["matched"], want["matched"]));
        }
        let (g, w) = (operations(&got), operations(want));
        op_count += w.len();
        if g != w {
            problems.push(format!("operations differ:\n  got:  {g:?}\n  want: {w:?}"));
        }
        if refusals(&got) != refusals(want) {
            problems.push(format!(
                "refusals {:?} != {:?} ({} / {})",
                refusals(&got),
                refusals(want),
                got["error"],
                want["error"]
            ));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} [{}]: {}",
                want["messageId"],
                want["category"].as_str().unwrap_or_default(),
                problems.join("; ")
            ));
        }
    }
    assert!(op_count > 200, "the fixture holds the whole corpus");
    assert!(
        failures.is_empty(),
        "{} of {} events differ from {expected_file}:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
}

#[test]
fn golden_default_mode_matches_expected_jsonl() {
    check("expected.jsonl", ModeChoice::Auto);
}

#[test]
fn golden_batch_mode_matches_expected_jsonl() {
    check("expected.jsonl", ModeChoice::Batch);
}

#[test]
fn golden_single_mode_matches_expected_single_jsonl() {
    check("expected-single.jsonl", ModeChoice::Single);
}

/// Delivery parses only the top-level fields a destination's triggers and matching mappings
/// read. On every corpus event, and for tables with mappings that read the whole event, a
/// path computed from the event, a two-pass template, `@arrayPath` and `@if`, that must give
/// what running on the whole event gives.
#[test]
fn parsing_only_what_is_read_changes_nothing() {
    use cio_relay::event::Fields;
    use cio_relay::preview::{process, process_partial, PartialEvent};

    // One destination per feature, so that no subscription reading everything hides another's
    // mistake.
    let custom = r#"
[[sources]]
name = "s"
write_key = "k"

[[destinations]]
name = "whole"
dry_run = true

[[destinations.subscriptions]]
name = "Track Event"
[destinations.subscriptions.mapping]
data = { "@path" = "$." }

[[destinations]]
name = "dynamic"
dry_run = true
presets = "none"

[[destinations.subscriptions]]
name = "Dynamic"
trigger = 'type = "identify"'
action = "trackEvent"
[destinations.subscriptions.mapping]
id = { "@path" = "$.userId" }
name = { "@path" = { "@template" = "context.{{type}}" } }
data = { "@path" = "$.properties" }

[[destinations]]
name = "twopass"
dry_run = true
presets = "none"

[[destinations.subscriptions]]
name = "Two passes"
trigger = 'type = "identify"'
action = "trackEvent"
[destinations.subscriptions.mapping]
id = { "@path" = "$.userId" }
name = "n"
data = { text = { "@template" = "{{{properties.tpl}}} {{userId}}" } }

[[destinations]]
name = "shapes"
dry_run = true
presets = "none"

[[destinations.subscriptions]]
name = "Shapes"
trigger = 'type = "page" or type = "group" or event = "Mac"'
action = "trackEvent"
[destinations.subscriptions.mapping]
id = { "@path" = "$.userId" }
name = { "@if" = { exists = { "@path" = "$.name" }, then = { "@path" = "$.name" }, else = { "@path" = "$.context.page.title" } } }
data = { skus = { "@arrayPath" = ["$.properties.products", { sku = { "@path" = "$.sku" } }] } }
"#;
    let custom: cio_relay::config::RawConfig = toml::from_str(custom).expect("parses");
    let custom = cio_relay::config::resolve(custom).expect("resolves");
    let classic: cio_relay::config::RawConfig = toml::from_str(
        "[[sources]]\nname = \"s\"\nwrite_key = \"k\"\n[[destinations]]\nname = \"c\"\ndry_run = true\npresets = \"classic\"\n",
    )
    .expect("parses");
    let classic = cio_relay::config::resolve(classic).expect("resolves");
    let golden = golden_config();
    let mut dests = vec![&golden.destinations[0], &classic.destinations[0]];
    dests.extend(custom.destinations.iter());
    assert!(!dests[0].trigger_keys.is_all());
    assert!(!dests[0].trigger_keys.contains("context"));

    let mut corpus = read_jsonl("corpus.jsonl");
    corpus.push(serde_json::json!({
        "type": "track", "event": "Mac", "userId": "u", "properties": {"tpl": "{{event}}",
        "products": [{"sku": "a"}, {"sku": "b"}]},
        "context": {"track": "ctx", "userAgent": "Mac", "page": {"title": "PT"}}
    }));
    corpus.push(serde_json::json!({
        "type": "identify", "userId": "u", "event": "not read by any trigger",
        "properties": {"tpl": "{{context.page.path}}"},
        "context": {"identify": "from context", "page": {"path": "/p", "title": "T"}}
    }));
    corpus.push(serde_json::json!({
        "type": "page", "userId": "u", "properties": {"products": [{"sku": "c"}], "url": "https://example.com/p"},
        "context": {"page": {"title": "Title from context", "url": "https://example.com/p"}}
    }));
    let mut compared = 0;
    let mut built_by = std::collections::BTreeMap::new();
    for event in &corpus {
        let stored = serde_json::to_vec(event).expect("serializes");
        for choice in [ModeChoice::Auto, ModeChoice::Single, ModeChoice::Batch] {
            for dest in &dests {
                let fields = Fields::parse_stored(&stored).expect("parses");
                let mut partial = PartialEvent::new(&fields);
                let lazily = process_partial(dest, &mut partial, choice);
                let whole = process(dest, event, choice);
                assert_eq!(lazily, whole, "{} on {event}", dest.name);
                compared += whole.ops.len() + whole.refusals.len();
                if event["userId"] == "u" && dest.name != "c" && dest.name != "golden" {
                    // The hand-made events exercise the custom tables for real.
                    assert!(
                        whole.refusals.is_empty(),
                        "{} on {event}: {whole:?}",
                        dest.name
                    );
                    *built_by.entry(dest.name.clone()).or_insert(0) += whole.ops.len();
                }
            }
        }
    }
    assert!(compared > 1_000, "{compared}");
    for name in ["whole", "dynamic", "twopass", "shapes"] {
        assert!(
            built_by.get(name).is_some_and(|n| *n >= 1),
            "{name}: {built_by:?}"
        );
    }
}
