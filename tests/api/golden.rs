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

fn golden_config() -> Config {
    config::load_resolved(Some(&fixtures().join("config/valid/golden.toml")))
        .expect("golden config")
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
