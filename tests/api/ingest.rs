//! The Segment-compatible ingest API, black box: real server, real HTTP. Trap numbers (T1…)
//! refer to the ingest spec's list of what naive implementations get wrong.

use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
use serde_json::{json, Value};

use crate::helpers::{gzip, spawn_app, Auth, LENIENT_KEY, WRITE_KEY};

/// A valid event body for a type, without `type` (single-event paths set it).
fn event_for(kind: &str) -> Value {
    match kind {
        "track" => json!({"userId": "u1", "event": "Signed Up"}),
        "group" => json!({"userId": "u1", "groupId": "g1"}),
        "alias" => json!({"userId": "u1", "previousId": "anon-1"}),
        _ => json!({"userId": "u1"}),
    }
}

fn typed(kind: &str) -> Value {
    let mut e = event_for(kind);
    e["type"] = json!(kind);
    e
}

const TYPES: [&str; 6] = ["track", "identify", "page", "screen", "group", "alias"];

// ---------------------------------------------------------------- endpoints

#[tokio::test]
async fn every_single_event_path_accepts_an_event_and_sets_its_type_t8() {
    let app = spawn_app().await;
    for kind in TYPES {
        let short = &kind[..1];
        // No `type` in the body: the path says what it is.
        app.track(&format!("/v1/{kind}"), &event_for(kind))
            .await
            .assert_success();
        app.track(&format!("/v1/{short}"), &event_for(kind))
            .await
            .assert_success();
    }
    for kind in TYPES {
        assert_eq!(app.events("web", kind, "accepted").await, 2, "{kind}");
    }
}

#[tokio::test]
async fn the_path_type_wins_over_a_different_type_in_the_body() {
    let app = spawn_app().await;
    let body = json!({"type": "identify", "userId": "u1", "event": "Clicked"});
    app.track("/v1/track", &body).await.assert_success();
    assert_eq!(app.events("web", "track", "accepted").await, 1);
    assert_eq!(app.events("web", "identify", "accepted").await, 0);
}

#[tokio::test]
async fn batch_import_and_b_accept_batches() {
    let app = spawn_app().await;
    for path in ["/v1/batch", "/v1/import", "/v1/b"] {
        let body = json!({"batch": [typed("track"), typed("identify"), typed("page")]});
        app.track(path, &body).await.assert_success();
    }
    assert_eq!(app.events("web", "track", "accepted").await, 3);
    assert_eq!(app.events("web", "identify", "accepted").await, 3);
    assert_eq!(app.events("web", "page", "accepted").await, 3);
    assert_eq!(app.requests("/v1/import", 200).await, 1);
    assert_eq!(app.requests("/v1/b", 200).await, 1);
}

#[tokio::test]
async fn put_is_accepted_like_post() {
    let app = spawn_app().await;
    let req = app
        .client
        .put(app.url("/v1/track"))
        .basic_auth(WRITE_KEY, Some(""))
        .body(event_for("track").to_string());
    app.send(req).await.assert_success();
    assert_eq!(app.events("web", "track", "accepted").await, 1);
}

#[tokio::test]
async fn get_on_an_ingest_path_is_405_json() {
    let app = spawn_app().await;
    let reply = app.get("/v1/track").await;
    reply.assert_error(405, "method_not_allowed");
    assert!(reply.header("allow").contains("POST"));
}

#[tokio::test]
async fn browser_telemetry_needs_no_key_and_is_dropped_t7() {
    let app = spawn_app().await;
    let body =
        r#"{"series":[{"type":"Counter","metric":"analytics_js.invoke","value":1,"tags":{}}]}"#;
    let req = app
        .client
        .post(app.url("/v1/m"))
        .header(CONTENT_TYPE, "text/plain")
        .body(body);
    app.send(req).await.assert_success();
    let req = app.client.post(app.url("/v1/m")).body("not even json");
    assert_eq!(app.send(req).await.status, 200);
    assert_eq!(app.all_events("web").await, 0);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json, json!({"status": "ok"}));
    assert_eq!(app.get("/readyz").await.status, 200);
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert_eq!(metrics.header("content-type"), "text/plain; version=0.0.4");
    assert!(metrics
        .text
        .contains("cio_relay_http_request_duration_seconds"));
    app.set_not_ready();
    assert_eq!(app.get("/readyz").await.status, 503);
    assert_eq!(app.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn unknown_paths_are_404_json() {
    let app = spawn_app().await;
    for path in ["/", "/v1", "/v1/nope", "/v2/track", "/webhook/a/b"] {
        let reply = app
            .post_json(path, Auth::Basic(WRITE_KEY), &json!({}))
            .await;
        reply.assert_error(404, "not_found");
    }
    assert!(app.requests("unmatched", 404).await >= 5);
}

#[tokio::test]
async fn paths_ignore_case_and_trailing_slashes_and_never_redirect_t10_t15() {
    let app = spawn_app().await;
    for path in ["/v1/Track/", "/V1/TRACK", "/v1/track//", "//v1/t", "/v1/T/"] {
        app.track(path, &event_for("track")).await.assert_success();
    }
    let batch = json!({"batch": [typed("track")]});
    app.track("/V1/Batch/", &batch).await.assert_success();
    assert_eq!(app.events("web", "track", "accepted").await, 6);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let reply = app.track("/v1/track", &event_for("track")).await;
    assert!(!reply.header("x-request-id").is_empty());
    let reply = app.get("/nope").await;
    assert!(!reply.header("x-request-id").is_empty());
    let req = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123");
    assert_eq!(app.send(req).await.header("x-request-id"), "abc-123");
}

// ---------------------------------------------------------------- authentication (T3)

#[tokio::test]
async fn basic_auth_with_and_without_the_colon() {
    let app = spawn_app().await;
    for auth in [Auth::Basic(WRITE_KEY), Auth::BasicNoColon(WRITE_KEY)] {
        app.post_json("/v1/track", auth, &event_for("track"))
            .await
            .assert_success();
    }
    assert_eq!(app.events("web", "track", "accepted").await, 2);
}

#[tokio::test]
async fn a_bearer_token_carries_the_key() {
    let app = spawn_app().await;
    app.post_json(
        "/v1/batch",
        Auth::Bearer(WRITE_KEY),
        &json!({"batch": [typed("track")]}),
    )
    .await
    .assert_success();
    assert_eq!(app.events("web", "track", "accepted").await, 1);
}

#[tokio::test]
async fn the_write_key_in_a_single_event_body_is_enough() {
    let app = spawn_app().await;
    let mut body = event_for("track");
    body["writeKey"] = json!(WRITE_KEY);
    app.post_json("/v1/t", Auth::None, &body)
        .await
        .assert_success();
    assert_eq!(app.events("web", "track", "accepted").await, 1);
}

#[tokio::test]
async fn the_write_key_at_the_top_of_a_batch_is_enough() {
    let app = spawn_app().await;
    let body = json!({"batch": [typed("identify")], "writeKey": LENIENT_KEY});
    app.post_json("/v1/b", Auth::None, &body)
        .await
        .assert_success();
    assert_eq!(app.events("lenient", "identify", "accepted").await, 1);
}

#[tokio::test]
async fn a_bearer_token_that_is_not_a_key_falls_back_to_the_body_key() {
    let app = spawn_app().await;
    let body = json!({"batch": [typed("identify")], "writeKey": WRITE_KEY});
    app.post_json("/v1/batch", Auth::Bearer("oauth-access-token"), &body)
        .await
        .assert_success();
}

#[tokio::test]
async fn a_missing_key_is_401_json_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let reply = app
        .post_json("/v1/track", Auth::None, &event_for("track"))
        .await;
    reply.assert_error(401, "unauthorized");
    let reply = app
        .post_json("/v1/batch", Auth::None, &json!({"batch": [typed("track")]}))
        .await;
    reply.assert_error(401, "unauthorized");
    app.track("/v1/track", &event_for("track"))
        .await
        .assert_success();
    assert_eq!(app.events("web", "track", "accepted").await, 1);
}

#[tokio::test]
async fn an_unknown_key_is_401_json_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    for auth in [
        Auth::Basic("not-a-key"),
        Auth::BasicNoColon("not-a-key"),
        Auth::Bearer("not-a-key"),
    ] {
        app.post_json("/v1/track", auth, &event_for("track"))
            .await
            .assert_error(401, "unauthorized");
    }
    let mut body = event_for("track");
    body["writeKey"] = json!("not-a-key");
    app.post_json("/v1/track", Auth::None, &body)
        .await
        .assert_error(401, "unauthorized");
    assert_eq!(app.requests("/v1/track", 401).await, 4);
    assert_eq!(app.get("/healthz").await.status, 200);
    app.track("/v1/track", &event_for("track"))
        .await
        .assert_success();
}

// ---------------------------------------------------------------- bodies and encodings

#[tokio::test]
async fn any_content_type_is_read_as_json_t1() {
    let app = spawn_app().await;
    for content_type in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/json; charset=utf-8"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut req = app
            .post("/v1/t", Auth::Basic(WRITE_KEY))
            .body(event_for("track").to_string());
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        app.send(req).await.assert_success();
    }
    assert_eq!(app.events("web", "track", "accepted").await, 5);
}

#[tokio::test]
async fn gzip_bodies_are_decoded() {
    let app = spawn_app().await;
    let body = json!({"batch": [typed("track"), typed("identify")]});
    let req = app
        .post("/v1/batch", Auth::Basic(WRITE_KEY))
        .header(CONTENT_TYPE, "text/plain")
        .header(CONTENT_ENCODING, "gzip")
        .body(gzip(body.to_string().as_bytes()));
    app.send(req).await.assert_success();
    assert_eq!(app.events("web", "track", "accepted").await, 1);
    assert_eq!(app.events("web", "identify", "accepted").await, 1);
}

#[tokio::test]
async fn deflate_bodies_are_decoded_zlib_or_raw() {
    use flate2::write::{DeflateEncoder, ZlibEncoder};
    use flate2::Compression;
    use std::io::Write;

    let app = spawn_app().await;
    let body = event_for("track").to_string();
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
    zlib.write_all(body.as_bytes()).unwrap();
    let mut raw = DeflateEncoder::new(Vec::new(), Compression::default());
    raw.write_all(body.as_bytes()).unwrap();
    for compressed in [zlib.finish().unwrap(), raw.finish().unwrap()] {
        let req = app
            .post("/v1/track", Auth::Basic(WRITE_KEY))
            .header(CONTENT_ENCODING, "deflate")
            .body(compressed);
        app.send(req).await.assert_success();
    }
    assert_eq!(app.events("web", "track", "accepted").await, 2);
}

#[tokio::test]
async fn chunked_gzip_without_content_length_is_read_t18() {
    let app = spawn_app().await;
    let body = json!({"batch": [typed("track"), typed("screen")], "writeKey": WRITE_KEY});
    let compressed = gzip(body.to_string().as_bytes());
    // Kotlin streams its gzip body in chunks; send it in three.
    let mut request = b"POST /v1/b HTTP/1.1\r\nHost: relay\r\nContent-Type: text/plain\r\n\
Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        .to_vec();
    for chunk in compressed.chunks(compressed.len() / 3 + 1) {
        request.extend(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend(chunk);
        request.extend(b"\r\n");
    }
    request.extend(b"0\r\n\r\n");
    let (status, text) = app.raw_http(&request).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(r#"{"success":true}"#), "{text}");
    assert_eq!(app.events("web", "track", "accepted").await, 1);
    assert_eq!(app.events("web", "screen", "accepted").await, 1);
}

#[tokio::test]
async fn malformed_json_is_400_with_the_parsers_message() {
    let app = spawn_app().await;
    for path in ["/v1/track", "/v1/batch"] {
        let req = app
            .post(path, Auth::Basic(WRITE_KEY))
            .body(r#"{"userId": "u1", "event": "#);
        let reply = app.send(req).await;
        reply.assert_error(400, "invalid_json");
        assert!(
            reply.json["message"].as_str().unwrap().contains("line 1"),
            "{}",
            reply.text
        );
    }
}

#[tokio::test]
async fn malformed_gzip_is_400_bad_encoding() {
    let app = spawn_app().await;
    let mut truncated = gzip(event_for("track").to_string().as_bytes());
    truncated.truncate(truncated.len() / 2);
    for body in [b"this is not gzip".to_vec(), truncated] {
        let req = app
            .post("/v1/track", Auth::Basic(WRITE_KEY))
            .header(CONTENT_ENCODING, "gzip")
            .body(body);
        let reply = app.send(req).await;
        reply.assert_error(400, "bad_encoding");
        assert_eq!(reply.json["message"], "Malformed gzip content");
    }
}

#[tokio::test]
async fn an_unknown_content_encoding_is_415() {
    let app = spawn_app().await;
    let req = app
        .post("/v1/track", Auth::Basic(WRITE_KEY))
        .header(CONTENT_ENCODING, "br")
        .body("xx");
    app.send(req)
        .await
        .assert_error(415, "unsupported_encoding");
}

#[tokio::test]
async fn a_batch_needs_a_batch_array() {
    let app = spawn_app().await;
    for body in [
        json!({}),
        json!({"batch": null}),
        json!({"batch": {"type": "track"}}),
        json!({"batch": "x"}),
        json!([typed("track")]),
    ] {
        app.track("/v1/batch", &body)
            .await
            .assert_error(400, "invalid_body");
    }
    // An empty batch is a valid, empty request.
    app.track("/v1/batch", &json!({"batch": []}))
        .await
        .assert_success();
}

#[tokio::test]
async fn a_single_event_path_needs_an_object() {
    let app = spawn_app().await;
    app.track("/v1/track", &json!([event_for("track")]))
        .await
        .assert_error(400, "invalid_body");
}

// ---------------------------------------------------------------- size limits (T9)

fn padded(kind: &str, bytes: usize) -> Value {
    let mut e = typed(kind);
    e["properties"] = json!({"pad": "x".repeat(bytes)});
    e
}

#[tokio::test]
async fn a_single_event_over_32_kib_is_400() {
    let app = spawn_app().await;
    let reply = app.track("/v1/track", &padded("track", 33 << 10)).await;
    reply.assert_error(400, "payload_too_large");
    // Just under the limit is fine.
    app.track("/v1/track", &padded("track", 31 << 10))
        .await
        .assert_success();
}

#[tokio::test]
async fn the_32_kib_limit_is_measured_after_decompression() {
    let app = spawn_app().await;
    let body = padded("track", 40 << 10).to_string();
    let compressed = gzip(body.as_bytes());
    assert!(compressed.len() < 2 << 10);
    let req = app
        .post("/v1/track", Auth::Basic(WRITE_KEY))
        .header(CONTENT_ENCODING, "gzip")
        .body(compressed);
    app.send(req).await.assert_error(400, "payload_too_large");
}

#[tokio::test]
async fn batches_take_500_kib_but_not_more() {
    let app = spawn_app().await;
    // Ten 30 KiB events: far over the single-event limit, under the batch limit.
    let items: Vec<Value> = (0..10).map(|_| padded("track", 30 << 10)).collect();
    app.track("/v1/batch", &json!({"batch": items}))
        .await
        .assert_success();
    assert_eq!(app.events("web", "track", "accepted").await, 10);
    let items: Vec<Value> = (0..20).map(|_| padded("track", 30 << 10)).collect();
    app.track("/v1/batch", &json!({"batch": items}))
        .await
        .assert_error(400, "payload_too_large");
    assert_eq!(app.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn a_batch_item_over_32_kib_is_dropped_alone() {
    let app = spawn_app().await;
    let body = json!({"batch": [padded("track", 33 << 10), typed("identify")]});
    let reply = app.track("/v1/batch", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["rejected"], 1);
    assert_eq!(reply.json["errors"][0]["index"], 0);
    assert_eq!(app.events("web", "identify", "accepted").await, 1);
    assert_eq!(app.events("web", "unknown", "rejected").await, 1);
}

#[tokio::test]
async fn a_gzip_bomb_is_refused_and_the_server_stays_healthy() {
    let app = spawn_app().await;
    // 50 MB of zeros compress to about 50 KB.
    let bomb = gzip(&vec![0u8; 50 << 20]);
    assert!(bomb.len() < 100 << 10);
    for path in ["/v1/track", "/v1/batch"] {
        let req = app
            .post(path, Auth::Basic(WRITE_KEY))
            .header(CONTENT_ENCODING, "gzip")
            .body(bomb.clone());
        app.send(req).await.assert_error(400, "payload_too_large");
    }
    assert_eq!(app.get("/healthz").await.status, 200);
    app.track("/v1/track", &event_for("track"))
        .await
        .assert_success();
}

#[tokio::test]
async fn a_huge_plain_upload_is_refused() {
    let app = spawn_app().await;
    let body = vec![b' '; 8 << 20];
    let req = app.post("/v1/batch", Auth::Basic(WRITE_KEY)).body(body);
    // Refused unread: the client may see the 400 or a closed connection, never a 200, and
    // a 400 names the size (8 MiB of spaces read whole would be `invalid_json`).
    if let Ok(resp) = req.send().await {
        assert_eq!(resp.status(), 400);
        let text = resp.text().await.expect("an answer");
        let body: serde_json::Value = serde_json::from_str(&text).expect("a JSON answer");
        assert_eq!(body["code"], "payload_too_large", "{body}");
    }
    assert_eq!(app.get("/healthz").await.status, 200);
}

// ---------------------------------------------------------------- validation (T2, T4, T5, T16)

#[tokio::test]
async fn missing_required_fields_on_single_paths_are_400_naming_the_field() {
    let app = spawn_app().await;
    for (path, body, field) in [
        ("/v1/track", json!({"event": "E"}), "userId"),
        (
            "/v1/identify",
            json!({"userId": null, "anonymousId": ""}),
            "anonymousId",
        ),
        ("/v1/track", json!({"userId": "u1"}), "event"),
        ("/v1/group", json!({"userId": "u1"}), "groupId"),
        ("/v1/alias", json!({"userId": "u1"}), "previousId"),
    ] {
        let reply = app.track(path, &body).await;
        reply.assert_error(400, "invalid_event");
        let message = reply.json["message"].as_str().unwrap();
        assert!(message.contains(field), "{message}");
    }
    assert_eq!(app.events("web", "track", "rejected").await, 2);
    assert_eq!(app.events("web", "group", "rejected").await, 1);
}

#[tokio::test]
async fn the_same_bad_items_in_a_batch_are_dropped_and_the_rest_accepted_t2() {
    let app = spawn_app().await;
    let body = json!({"batch": [
        {"type": "track", "event": "E", "messageId": "no-id"},
        typed("identify"),
        {"type": "track", "userId": "u1", "messageId": "no-event"},
        {"type": "group", "userId": "u1"},
        typed("track"),
        {"type": "alias", "userId": "u1"},
        {"userId": "u1"},
        {"type": "bogus", "userId": "u1"},
        {"type": "delete", "userId": "u1"},
        "not an object",
        typed("page"),
    ]});
    let reply = app.track("/v1/batch", &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["success"], true);
    assert_eq!(reply.json["rejected"], 8);
    let errors = reply.json["errors"].as_array().unwrap();
    let indexes: Vec<u64> = errors
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [0, 2, 3, 5, 6, 7, 8, 9]);
    assert_eq!(errors[0]["messageId"], "no-id");
    assert!(errors[1]["message"].as_str().unwrap().contains("event"));
    assert!(errors[2]["message"].as_str().unwrap().contains("groupId"));
    for kind in ["identify", "track", "page"] {
        assert_eq!(app.events("web", kind, "accepted").await, 1, "{kind}");
    }
    assert_eq!(app.events("web", "track", "rejected").await, 2);
    assert_eq!(app.events("web", "unknown", "rejected").await, 4);
}

#[tokio::test]
async fn a_null_user_id_with_an_anonymous_id_is_accepted_t4() {
    let app = spawn_app().await;
    let body = json!({"userId": null, "anonymousId": "anon-1", "event": "E"});
    app.track("/v1/track", &body).await.assert_success();
    let batch = json!({"batch": [{"type": "identify", "userId": null, "anonymousId": "a"}]});
    app.track("/v1/batch", &batch).await.assert_success();
    assert_eq!(app.events("web", "track", "accepted").await, 1);
    assert_eq!(app.events("web", "identify", "accepted").await, 1);
}

#[tokio::test]
async fn numeric_ids_are_accepted() {
    let app = spawn_app().await;
    app.track("/v1/group", &json!({"userId": 42, "groupId": 7}))
        .await
        .assert_success();
}

#[tokio::test]
async fn no_sent_at_and_no_timestamp_are_fine_t5() {
    let app = spawn_app().await;
    // What the Customer.io Node client sends: no sentAt, no writeKey.
    let body = json!({"batch": [
        {"type": "track", "userId": "u1", "event": "E", "timestamp": "2026-11-23T00:13:50.363Z"},
        {"type": "identify", "userId": "u1"},
    ]});
    app.track("/v1/batch", &body).await.assert_success();
    let with_sent_at = json!({
        "batch": [{"type": "track", "userId": "u1", "event": "E",
                   "timestamp": "2026-11-23T00:13:50.363Z"}],
        "sentAt": "2026-11-23T00:13:51.000Z",
    });
    app.track("/v1/batch", &with_sent_at).await.assert_success();
    assert_eq!(app.events("web", "track", "accepted").await, 2);
}

#[tokio::test]
async fn sloppy_and_unparseable_timestamps_never_lose_the_event_t16() {
    let app = spawn_app().await;
    for ts in [
        "2015-2-02T00:30:08.276Z",
        "2026-11-23T00:13:42.162184+00:00",
        "2026-11-23T00:13:46.5Z",
        "2026-11-23 00:13:46",
        "not a date",
    ] {
        let body = json!({"userId": "u1", "event": "E", "timestamp": ts,
                          "sentAt": "2026-11-23T00:13:42.162184+00:00"});
        app.track("/v1/track", &body).await.assert_success();
        let body = json!({"userId": "u1", "event": "E", "timestamp": ts, "sentAt": "junk"});
        app.track("/v1/track", &body).await.assert_success();
    }
    assert_eq!(app.events("web", "track", "accepted").await, 10);
}

#[tokio::test]
async fn a_source_that_does_not_require_ids_takes_id_less_events() {
    let app = spawn_app().await;
    let body = json!({"traits": {"email": "a@example.com"}});
    app.post_json("/v1/identify", Auth::Basic(LENIENT_KEY), &body)
        .await
        .assert_success();
    assert_eq!(app.events("lenient", "identify", "accepted").await, 1);
    // Type-specific fields are still required.
    app.post_json("/v1/track", Auth::Basic(LENIENT_KEY), &json!({}))
        .await
        .assert_error(400, "invalid_event");
}

#[tokio::test]
async fn batch_context_and_integrations_apply_to_every_item() {
    let app = spawn_app().await;
    // The envelope turns the destination off; the second item turns it back on itself.
    let body = json!({
        "batch": [
            typed("track"),
            {"type": "track", "userId": "u1", "event": "E",
             "integrations": {"Customer.io (Actions)": true}},
        ],
        "integrations": {"All": false},
        "context": {"library": {"name": "raw"}},
    });
    app.track("/v1/batch", &body).await.assert_success();
    assert_eq!(app.events("web", "track", "filtered").await, 1);
    assert_eq!(app.events("web", "track", "accepted").await, 1);
}

// ---------------------------------------------------------------- integrations (T17)

#[tokio::test]
async fn each_destination_name_can_turn_it_off() {
    let app = spawn_app().await;
    for name in [
        "Customer.io (Actions)",
        "Actions Customerio",
        "Customer.io Actions",
    ] {
        let mut body = event_for("track");
        body["integrations"] = json!({ name: false });
        app.track("/v1/track", &body).await.assert_success();
    }
    assert_eq!(app.events("web", "track", "filtered").await, 3);
    assert_eq!(app.events("web", "track", "accepted").await, 0);
}

#[tokio::test]
async fn all_false_filters_unless_a_name_turns_it_on() {
    let app = spawn_app().await;
    let cases = [
        (json!({"All": false}), false),
        (
            json!({"All": false, "Segment.io": true, "Customer.io": true}),
            false,
        ),
        (json!({"All": false, "Customer.io (Actions)": true}), true),
        (
            json!({"All": false, "Actions Customerio": {"option": 1}}),
            true,
        ),
        (json!({"All": false, "Customer.io Actions": {}}), true),
        (json!({"Segment.io": true}), true),
        (json!({"Mixpanel": false}), true),
    ];
    let expected_on = cases.iter().filter(|(_, on)| *on).count() as u64;
    for (integrations, _) in cases.iter() {
        let mut body = event_for("track");
        body["integrations"] = integrations.clone();
        app.track("/v1/track", &body).await.assert_success();
    }
    assert_eq!(app.events("web", "track", "accepted").await, expected_on);
    assert_eq!(
        app.events("web", "track", "filtered").await,
        7 - expected_on
    );
}

// ---------------------------------------------------------------- CORS (T6)

#[tokio::test]
async fn preflight_answers_every_path() {
    let app = spawn_app().await;
    for path in [
        "/v1/t",
        "/v1/b",
        "/v1/batch",
        "/v1/Track/",
        "/webhook/hooks",
    ] {
        let req = app
            .client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("Origin", "https://shop.example")
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type",
            );
        let reply = app.send(req).await;
        assert!(
            reply.status == 204 || reply.status == 200,
            "{path}: {}",
            reply.status
        );
        assert_eq!(
            reply.header("access-control-allow-origin"),
            "https://shop.example"
        );
        assert_eq!(reply.header("access-control-allow-credentials"), "true");
        assert!(reply
            .header("access-control-allow-methods")
            .contains("POST"));
        assert!(reply.header("access-control-allow-methods").contains("PUT"));
        let headers = reply
            .header("access-control-allow-headers")
            .to_ascii_lowercase();
        assert!(headers.contains("authorization") && headers.contains("content-type"));
        assert_eq!(reply.header("access-control-max-age"), "604800");
    }
    // Without requested headers, the defaults still cover what the browser library sends.
    let req = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/t"))
        .header("Access-Control-Request-Method", "POST");
    let reply = app.send(req).await;
    assert_eq!(reply.header("access-control-allow-origin"), "*");
    let headers = reply.header("access-control-allow-headers");
    assert!(headers.contains("authorization") && headers.contains("content-type"));
    assert_eq!(app.all_events("web").await, 0);
}

#[tokio::test]
async fn every_post_answer_carries_allow_origin() {
    let app = spawn_app().await;
    let origin = "https://shop.example";
    let ok = app
        .post("/v1/t", Auth::Basic(WRITE_KEY))
        .header("Origin", origin)
        .body(event_for("track").to_string());
    let reply = app.send(ok).await;
    reply.assert_success();
    assert_eq!(reply.header("access-control-allow-origin"), origin);
    let unauthorized = app
        .post("/v1/t", Auth::None)
        .header("Origin", origin)
        .body(event_for("track").to_string());
    let reply = app.send(unauthorized).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("access-control-allow-origin"), origin);
    let bad = app.post("/v1/t", Auth::Basic(WRITE_KEY)).body("{");
    let reply = app.send(bad).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.header("access-control-allow-origin"), "*");
}

// ---------------------------------------------------------------- browser settings

/// The request `@segment/analytics-next` 1.84.3 makes in Chromium before anything else when the
/// page loads it with `cdnURL` set to the relay, header for header.
fn browser_settings_request(
    app: &crate::helpers::TestApp,
    key: &str,
    origin: &str,
) -> reqwest::RequestBuilder {
    let ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
              HeadlessChrome/156.0.0.0 Safari/537.36";
    app.client
        .get(app.url(&format!("/v1/projects/{key}/settings")))
        .header("sec-ch-ua-platform", "\"Linux\"")
        .header("User-Agent", ua)
        .header(
            "sec-ch-ua",
            "\"Not:A-Brand\";v=\"8\", \"Chromium\";v=\"156\"",
        )
        .header("sec-ch-ua-mobile", "?0")
        .header("Accept", "*/*")
        .header("Origin", origin)
        .header("Sec-Fetch-Site", "same-site")
        .header("Sec-Fetch-Mode", "cors")
        .header("Sec-Fetch-Dest", "empty")
        .header("Referer", format!("{origin}/"))
        .header("Accept-Encoding", "gzip, deflate, br, zstd")
        .header("Accept-Language", "en-US,en;q=0.9")
}

/// The test page's origin: another port than the relay's, as in the captured session.
const PAGE: &str = "http://127.0.0.1:8790";

/// What the same library then posts to `/v1/t`, as captured (the write key swapped for the
/// test source's).
const BROWSER_TRACK: &str = r#"{"timestamp":"2026-11-23T10:21:33.342Z","integrations":{"Segment.io":true},"event":"Unload 1","type":"track","properties":{},"context":{"page":{"path":"/","referrer":"","search":"","title":"","url":"http://127.0.0.1:8790/"},"userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36","userAgentData":{"brands":[{"brand":"Not:A-Brand","version":"8"},{"brand":"Chromium","version":"156"}],"mobile":false,"platform":"Linux"},"locale":"en-US","library":{"name":"analytics.js","version":"next-1.84.3"},"timezone":"UTC"},"messageId":"ajs-next-1795429293342-36ae5364-8bed-490d-8dc0-1b17c45305fa","anonymousId":"ae53648b-edd9-4d8d-801b-17c45305fac4","writeKey":"WRITE_KEY","userId":null,"sentAt":"2026-11-23T10:21:33.366Z","_metadata":{"bundled":["Segment.io"],"unbundled":[],"bundledIds":[]}}"#;

#[tokio::test]
async fn the_browser_library_loads_its_settings_from_the_relay_and_sends_where_they_point() {
    // The browser library will not load (and so sends nothing) until it has its source
    // settings; Segment's CDN has none for a relay-only key.
    let app = spawn_app().await;
    let reply = app
        .send(browser_settings_request(&app, WRITE_KEY, PAGE))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        "http://127.0.0.1:8790"
    );
    assert!(reply.header("content-type").starts_with("application/json"));
    assert!(reply.header("cache-control").starts_with("private"));
    let segmentio = &reply.json["integrations"]["Segment.io"];
    assert_eq!(segmentio["apiKey"], WRITE_KEY);
    assert_eq!(segmentio["apiHost"], format!("{}/v1", app.addr));
    assert_eq!(segmentio["protocol"], "http");
    // The relay drops the library's telemetry anyway: it is told not to send it.
    assert_eq!(reply.json["metrics"]["sampleRate"], 0);

    // The library posts to `${protocol}://${apiHost}/t`.
    let url = format!(
        "{}://{}/t",
        segmentio["protocol"].as_str().unwrap(),
        segmentio["apiHost"].as_str().unwrap()
    );
    let req = app
        .client
        .post(url)
        .basic_auth(WRITE_KEY, Some(""))
        .header(CONTENT_TYPE, "text/plain")
        .header("Origin", "http://127.0.0.1:8790")
        .body(BROWSER_TRACK.replace("WRITE_KEY", WRITE_KEY));
    app.send(req).await.assert_success();
    assert_eq!(app.events("web", "track", "accepted").await, 1);
}

#[tokio::test]
async fn settings_behind_a_proxy_point_at_the_public_address() {
    let app = spawn_app().await;
    let req = browser_settings_request(&app, WRITE_KEY, PAGE)
        .header("X-Forwarded-Host", "relay.example.com")
        .header("X-Forwarded-Proto", "https");
    let reply = app.send(req).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let segmentio = &reply.json["integrations"]["Segment.io"];
    assert_eq!(segmentio["apiHost"], "relay.example.com/v1");
    assert_eq!(segmentio["protocol"], "https");
    // An https page can only call an https API: without forwarding headers, its scheme is used.
    let req = browser_settings_request(&app, WRITE_KEY, "https://shop.example");
    let reply = app.send(req).await;
    assert_eq!(
        reply.json["integrations"]["Segment.io"]["protocol"],
        "https"
    );
}

#[tokio::test]
async fn settings_for_an_unknown_key_are_refused_loudly_and_keys_keep_their_case() {
    let app = spawn_app().await;
    let reply = app
        .send(browser_settings_request(&app, "no-such-key", PAGE))
        .await;
    reply.assert_error(401, "unauthorized");
    assert_eq!(
        reply.header("access-control-allow-origin"),
        "http://127.0.0.1:8790"
    );
    let upper = WRITE_KEY.to_uppercase();
    let reply = app.send(browser_settings_request(&app, &upper, PAGE)).await;
    assert_eq!(reply.status, 401);
    // The path itself matches in any case, like every other path.
    let reply = app
        .get(&format!("/V1/Projects/{WRITE_KEY}/Settings/"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let reply = app
        .send(app.post(&format!("/v1/projects/{WRITE_KEY}/settings"), Auth::None))
        .await;
    reply.assert_error(405, "method_not_allowed");
    assert_eq!(app.all_events("web").await, 0);
}

// ---------------------------------------------------------------- captured client traffic

/// One request a real client library sent to the relay, captured on the wire: headers as sent,
/// the body decoded, the status the relay answered.
#[derive(serde::Deserialize)]
struct Captured {
    client: String,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
    status: u16,
}

/// The write keys the captures were made with; the replay swaps in the test source's.
const CAPTURED_KEYS: [&str; 2] = ["pk_us_0123456789abcdef", "wk_test"];

/// Replays a capture file (one request a line) against a fresh relay, request by request,
/// exactly as sent but for the key, and checks each answer and that every event was accepted.
async fn replay_captured(fixture: &str) {
    let app = spawn_app().await;
    let mut expected: std::collections::BTreeMap<String, u64> = Default::default();
    for (line_no, line) in fixture.lines().enumerate() {
        let captured: Captured = serde_json::from_str(line).expect("a captured request");
        let what = format!(
            "line {}: {} {} from {}",
            line_no + 1,
            captured.method,
            captured.path,
            captured.client
        );
        let swap = |s: &str| {
            CAPTURED_KEYS
                .iter()
                .fold(s.to_string(), |s, k| s.replace(k, WRITE_KEY))
        };
        let method = reqwest::Method::from_bytes(captured.method.as_bytes()).unwrap();
        let mut req = app.client.request(method, app.url(&swap(&captured.path)));
        let mut gzipped = false;
        let mut origin = None;
        for (name, value) in &captured.headers {
            match name.to_ascii_lowercase().as_str() {
                "host" | "content-length" | "connection" => {}
                "authorization" => {
                    req = match value.split_once(' ') {
                        Some(("Basic", _)) => req.basic_auth(WRITE_KEY, Some("")),
                        Some(("Bearer", _)) => req.bearer_auth(WRITE_KEY),
                        _ => panic!("{what}: unexpected authorization {value}"),
                    }
                }
                lower => {
                    gzipped |= lower == "content-encoding" && value == "gzip";
                    if lower == "origin" {
                        origin = Some(value.clone());
                    }
                    req = req.header(name, value);
                }
            }
        }
        let body = swap(&captured.body);
        if !body.is_empty() {
            req = req.body(if gzipped {
                gzip(body.as_bytes())
            } else {
                body.clone().into_bytes()
            });
        }
        let reply = app.send(req).await;
        assert_eq!(reply.status, captured.status, "{what}: {}", reply.text);
        if let Some(origin) = origin {
            assert_eq!(
                reply.header("access-control-allow-origin"),
                origin,
                "{what}"
            );
        }
        if captured.method == "POST" && captured.path != "/v1/m" {
            reply.assert_success();
            let sent: Value = serde_json::from_str(&body).unwrap();
            let events = match sent.get("batch") {
                Some(Value::Array(items)) => items.clone(),
                _ => vec![sent],
            };
            for event in events {
                *expected
                    .entry(event["type"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
    }
    assert!(!expected.is_empty());
    for (kind, n) in &expected {
        assert_eq!(app.events("web", kind, "accepted").await, *n, "{kind}");
    }
    let total: u64 = expected.values().sum();
    assert_eq!(
        app.all_events("web").await,
        total,
        "nothing refused or filtered"
    );
}

#[tokio::test]
async fn captured_python_clients_traffic_is_accepted_whole() {
    // Segment's client plain, gzip, userId=None with an anonymousId, numeric ids; Customer.io's
    // client with a pk_ key as a Bearer token and no key in the body, plain and gzip.
    replay_captured(include_str!("../fixtures/clients/python.jsonl")).await;
}

#[tokio::test]
async fn captured_node_clients_traffic_is_accepted_whole() {
    // Segment's and Customer.io's clients, identified and anonymous; Customer.io's sends
    // neither sentAt nor writeKey.
    replay_captured(include_str!("../fixtures/clients/node.jsonl")).await;
}

#[tokio::test]
async fn captured_browser_traffic_is_accepted_whole() {
    // analytics-next from another origin: preflights, one request per event, batches on /v1/b,
    // telemetry on /v1/m, and the settings fetch of a page loaded with `cdnURL`.
    replay_captured(include_str!("../fixtures/clients/browser.jsonl")).await;
}

/// Operations the dry-run destination has "sent" (counted as sent), over all labels.
async fn operations_sent(app: &crate::helpers::TestApp) -> u64 {
    crate::helpers::sum_metric(&app.metrics().await, "cio_relay_operations_sent_total", &[])
}

#[tokio::test]
async fn values_no_json_parser_takes_are_refused_at_ingest_never_accepted_and_lost() {
    // Ingest keeps nested values as text; a lone surrogate or an out-of-range number deep in
    // one must still be refused up front, as a full parse would, not accepted with 200 and
    // then fail when delivery parses the stored event.
    let app = spawn_app().await;
    let lone = r#"{"userId":"u1","event":"E","properties":{"name":"\ud800"}}"#;
    let req = app
        .post("/v1/track", Auth::Basic(WRITE_KEY))
        .body(lone.to_string());
    let reply = app.send(req).await;
    reply.assert_error(400, "invalid_json");
    assert!(
        reply.json["message"]
            .as_str()
            .unwrap()
            .contains("properties"),
        "{}",
        reply.text
    );

    let batch = format!(
        r#"{{"batch":[{ok1},{{"type":"track","userId":"u1","event":"E","properties":{{"x":["\udc00"]}}}},{{"type":"track","userId":"u1","event":"E","properties":{{"n":1e999}}}},{ok2}]}}"#,
        ok1 = typed("track"),
        ok2 = typed("identify"),
    );
    let req = app.post("/v1/batch", Auth::Basic(WRITE_KEY)).body(batch);
    let reply = app.send(req).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["rejected"], 2, "{}", reply.text);
    let errors = reply.json["errors"].as_array().unwrap();
    assert_eq!(errors[0]["index"], 1);
    assert_eq!(errors[1]["index"], 2);
    for e in errors {
        assert!(
            e["message"].as_str().unwrap().contains("not valid JSON"),
            "{e}"
        );
    }
    // Both accepted events are delivered.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while operations_sent(&app).await < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(operations_sent(&app).await, 2, "{}", app.metrics().await);
}
