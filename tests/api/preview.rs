//! `cio-relay preview` as a user runs it: user subscriptions with overridden mappings from TOML,
//! disabled presets, the classic preset set, forced modes, and bad input lines.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use crate::helpers::relay_command;

use serde_json::{json, Value};

fn config(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config/valid")
        .join(name)
}

/// Runs `cio-relay preview` with `args` on `events`, returning one JSON value per output line.
fn preview(args: &[&str], events: &[Value]) -> Vec<Value> {
    let mut child = relay_command()
        .arg("preview")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run preview");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for e in events {
            writeln!(stdin, "{e}").expect("write");
        }
        writeln!(stdin, "not json").expect("write");
    }
    let out = child.wait_with_output().expect("preview output");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is JSON"))
        .collect();
    assert_eq!(lines.len(), events.len() + 1, "one line per input line");
    assert_eq!(lines.last().unwrap()["error"]["status"], 400);
    lines
}

fn overrides() -> String {
    config("overrides.toml").display().to_string()
}

#[test]
fn user_subscription_with_overridden_fields_keeps_the_other_defaults() {
    let ev = json!({"type":"track","event":"Order Completed","userId":"u1","anonymousId":"a1",
        "messageId":"m1","timestamp":"2024-06-01T10:00:00.000Z",
        "properties":{"order":{"id":"o1","placed_at":"2024-05-31T00:00:00Z"},"coupon":"X"}});
    let lines = preview(&["--config", &overrides()], &[ev]);
    let line = &lines[0];
    assert_eq!(line["matched"], json!(["Track Event", "Orders"]));
    let orders: Vec<&Value> = line["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["preset"] == "Orders")
        .collect();
    assert_eq!(orders.len(), 1);
    // enable_batching = false: one operation per /api/v2/entity request, EU region.
    assert_eq!(
        orders[0]["url"],
        "https://track-eu.customer.io/api/v2/entity"
    );
    assert_eq!(
        orders[0]["body"],
        json!({"type":"person","action":"event","name":"purchase","id":"m1",
               "attributes":{"id":"o1","placed_at":1717113600,"anonymous_id":"a1"},
               "timestamp":1717236000,"identifiers":{"id":"u1"}})
    );
    assert_eq!(
        orders[0]["headers"]["authorization"],
        "Basic c2l0ZV90ZXN0OmtleV90ZXN0"
    );
}

#[test]
fn overridden_preset_disabled_presets_and_nested_directives() {
    let page = json!({"type":"page","userId":"u2","messageId":"m2","timestamp":"2024-06-01T10:00:00.000Z",
        "properties":{"title":"Home"},"context":{"page":{"url":"https://example.com/"}}});
    let screen = json!({"type":"screen","name":"Home","userId":"u2","messageId":"m3"});
    let alias = json!({"type":"alias","userId":"u2","previousId":"a2","messageId":"m4"});
    let vip =
        json!({"type":"identify","userId":"u3","messageId":"m5","traits":{"plan":"vip","level":3}});
    let lines = preview(&["--config", &overrides()], &[page, screen, alias, vip]);
    // The overridden Track Page View falls back to context.page.url.
    assert_eq!(lines[0]["matched"], json!(["Track Page View"]));
    assert_eq!(
        lines[0]["requests"][0]["body"]["batch"][0]["name"],
        "https://example.com/"
    );
    // Track Screen View is disabled by name; Merge People by enabled = false.
    assert_eq!(lines[1]["matched"], json!([]));
    assert_eq!(lines[2]["matched"], json!([]));
    // A nested template and literal inside an object mapping.
    let vip_req = lines[3]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["preset"] == "VIP identify")
        .expect("VIP identify ran");
    assert_eq!(
        vip_req["body"]["batch"][0]["attributes"],
        json!({"tier":"vip-3","source":"relay"})
    );
}

#[test]
fn forced_modes_change_requests_and_empty_string_handling() {
    let ev = json!({"type":"track","event":"E","userId":"u","messageId":"","timestamp":"2024-06-01T10:00:00.000Z"});
    let golden = config("golden.toml").display().to_string();
    let batch = preview(&["--config", &golden, "--batch"], std::slice::from_ref(&ev));
    let single = preview(
        &["--config", &golden, "--single"],
        std::slice::from_ref(&ev),
    );
    let b = &batch[0]["requests"][0];
    let s = &single[0]["requests"][0];
    assert!(b["url"].as_str().unwrap().ends_with("/api/v2/batch"));
    assert!(s["url"].as_str().unwrap().ends_with("/api/v2/entity"));
    assert_eq!(
        b["body"]["batch"][0]["id"], "",
        "batch mode keeps the empty id"
    );
    assert!(s["body"].get("id").is_none(), "single mode drops it");
}

#[test]
fn refusals_are_reported_with_their_reason() {
    let ev = json!({"type":"track","userId":"u","messageId":"m","event":"Report Delivery Event",
        "properties":{"deliveryId":"d","metric":"read"}});
    let golden = config("golden.toml").display().to_string();
    let lines = preview(&["--config", &golden], &[ev]);
    assert_eq!(lines[0]["requests"], json!([]));
    assert_eq!(lines[0]["error"]["status"], 400);
    assert_eq!(lines[0]["error"]["preset"], "Report Delivery Event");
    assert!(lines[0]["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Metric must be one of"));
}

#[test]
fn classic_presets_name_screens_and_skip_anonymous_calls() {
    let classic = config("classic.toml").display().to_string();
    let screen = json!({"type":"screen","name":"Checkout","userId":"u","messageId":"m","timestamp":"2024-06-01T10:00:00.000Z"});
    let anon = json!({"type":"track","event":"E","anonymousId":"a","messageId":"m2"});
    let page = json!({"type":"page","name":"Pricing","userId":"u","messageId":"m3","properties":{"url":"https://x.io/p"}});
    let group = json!({"type":"group","groupId":"acme","userId":"u","messageId":"m4","traits":{"name":"Acme","email":"ops@acme.io"}});
    let lines = preview(&["--config", &classic], &[screen, anon, page, group]);
    assert_eq!(lines[0]["matched"], json!(["Classic Screen"]));
    assert_eq!(
        lines[0]["requests"][0]["body"]["batch"][0]["name"],
        "Viewed Checkout Screen"
    );
    assert_eq!(lines[1]["matched"], json!([]), "classic needs a userId");
    assert_eq!(
        lines[2]["requests"][0]["body"]["batch"][0]["name"],
        "Pricing"
    );
    let g = &lines[3]["requests"][0]["body"]["batch"][0];
    assert_eq!(g["action"], "identify");
    assert_eq!(
        g["attributes"],
        json!({"Group id":"acme","Group name":"Acme"})
    );
    assert_eq!(g["identifiers"], json!({"id":"u"}));
}

#[test]
fn credentials_on_the_command_line_set_the_authorization_shown() {
    let ev = json!({"type":"track","event":"E","userId":"u","messageId":"m"});
    // The embedded default has no credentials: no authorization header.
    let plain = preview(&[], std::slice::from_ref(&ev));
    assert!(plain[0]["requests"][0]["headers"]
        .get("authorization")
        .is_none());
    let with = preview(&["--site-id", "site_test", "--api-key", "key_test"], &[ev]);
    assert_eq!(
        with[0]["requests"][0]["headers"]["authorization"],
        "Basic c2l0ZV90ZXN0OmtleV90ZXN0"
    );
}
