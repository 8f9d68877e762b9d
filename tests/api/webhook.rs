//! `POST /webhook/{source}`: what Segment's Webhooks (classic) and Webhooks (Actions)
//! destinations send, signed (`X-Signature`) or authenticated by write key (T12, T13).

use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use crate::helpers::{hmac_hex, spawn_app, Auth, TestApp, HOOK_SECRET, LENIENT_KEY, WRITE_KEY};

/// A stored Segment event as a classic webhook posts it, with the spacing and escapes left
/// exactly as written (a re-serialization would change the digest).
const CLASSIC_BODY: &str = r#"{"version":1,"type":"track","event":"Caf\u00e9 Visited", "userId":"u1","messageId":"m-1","timestamp":"2026-01-01T00:00:00.000Z","properties":{"b":2,"a":1}}"#;

async fn post_signed(
    app: &TestApp,
    path: &str,
    body: &str,
    signature: Option<&str>,
) -> crate::helpers::Reply {
    let mut req = app
        .client
        .post(app.url(path))
        .header(CONTENT_TYPE, "application/json")
        .header("User-Agent", "Segment.io/1.0")
        .body(body.to_string());
    if let Some(sig) = signature {
        req = req.header("X-Signature", sig);
    }
    app.send(req).await
}

#[tokio::test]
async fn a_classic_webhook_with_a_good_signature_is_accepted() {
    let app = spawn_app().await;
    let sig = hmac_hex(HOOK_SECRET, CLASSIC_BODY.as_bytes());
    post_signed(&app, "/webhook/hooks", CLASSIC_BODY, Some(&sig))
        .await
        .assert_success();
    assert_eq!(app.events("hooks", "track", "accepted").await, 1);
}

#[tokio::test]
async fn a_bad_or_missing_signature_is_401() {
    let app = spawn_app().await;
    let wrong_secret = hmac_hex("other-secret", CLASSIC_BODY.as_bytes());
    for sig in [
        Some(wrong_secret.as_str()),
        Some("zz-not-hex"),
        Some(""),
        None,
    ] {
        post_signed(&app, "/webhook/hooks", CLASSIC_BODY, sig)
            .await
            .assert_error(401, "invalid_signature");
    }
    assert_eq!(app.all_events("hooks").await, 0);
    assert_eq!(app.get("/healthz").await.status, 200);
}

#[tokio::test]
async fn the_signature_covers_the_raw_bytes_not_a_reserialization_t12() {
    let app = spawn_app().await;
    let reserialized: serde_json::Value = serde_json::from_str(CLASSIC_BODY).unwrap();
    let sig = hmac_hex(HOOK_SECRET, reserialized.to_string().as_bytes());
    post_signed(&app, "/webhook/hooks", CLASSIC_BODY, Some(&sig))
        .await
        .assert_error(401, "invalid_signature");
}

#[tokio::test]
async fn an_actions_batch_is_a_bare_array_signed_over_its_first_element_t13() {
    let app = spawn_app().await;
    let first = r#"{"type":"identify","userId":"u1", "traits":{"email":"a@example.com"}}"#;
    let body = format!(
        "[ {first} ,\n  {{\"type\":\"track\",\"userId\":\"u2\",\"event\":\"E\"}}, {{\"type\":\"page\",\"anonymousId\":\"a\"}} ]"
    );
    let sig = hmac_hex(HOOK_SECRET, first.as_bytes());
    post_signed(&app, "/webhook/hooks", &body, Some(&sig))
        .await
        .assert_success();
    assert_eq!(app.events("hooks", "identify", "accepted").await, 1);
    assert_eq!(app.events("hooks", "track", "accepted").await, 1);
    assert_eq!(app.events("hooks", "page", "accepted").await, 1);

    // A signature over the whole body is not how Segment signs a batch.
    let whole = hmac_hex(HOOK_SECRET, body.as_bytes());
    post_signed(&app, "/webhook/hooks", &body, Some(&whole))
        .await
        .assert_error(401, "invalid_signature");
    // Nor is an empty batch verifiable.
    post_signed(&app, "/webhook/hooks", "[]", Some(&sig))
        .await
        .assert_error(401, "invalid_signature");
}

#[tokio::test]
async fn bad_items_in_a_webhook_batch_are_dropped_alone() {
    let app = spawn_app().await;
    let first = r#"{"type":"track","userId":"u1"}"#;
    let body = format!(r#"[{first},{{"type":"identify","userId":"u1"}}]"#);
    let sig = hmac_hex(HOOK_SECRET, first.as_bytes());
    let reply = post_signed(&app, "/webhook/hooks", &body, Some(&sig)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["rejected"], 1);
    assert_eq!(app.events("hooks", "identify", "accepted").await, 1);
    assert_eq!(app.events("hooks", "track", "rejected").await, 1);
}

#[tokio::test]
async fn delete_notices_are_accepted_and_not_delivered() {
    let app = spawn_app().await;
    let body = r#"{"type":"delete","userId":"u1","timestamp":"2026-01-01T00:00:00Z"}"#;
    let sig = hmac_hex(HOOK_SECRET, body.as_bytes());
    post_signed(&app, "/webhook/hooks", body, Some(&sig))
        .await
        .assert_success();
    assert_eq!(app.events("hooks", "delete", "filtered").await, 1);
    assert_eq!(app.events("hooks", "delete", "accepted").await, 0);
}

#[tokio::test]
async fn webhook_events_need_no_user_or_anonymous_id() {
    let app = spawn_app().await;
    let body = r#"{"type":"identify","traits":{"email":"a@example.com"}}"#;
    let sig = hmac_hex(HOOK_SECRET, body.as_bytes());
    post_signed(&app, "/webhook/hooks", body, Some(&sig))
        .await
        .assert_success();
    assert_eq!(app.events("hooks", "identify", "accepted").await, 1);
}

#[tokio::test]
async fn webhook_events_still_need_a_type_and_their_fields() {
    let app = spawn_app().await;
    for body in [r#"{"userId":"u1"}"#, r#"{"type":"track","userId":"u1"}"#] {
        let sig = hmac_hex(HOOK_SECRET, body.as_bytes());
        post_signed(&app, "/webhook/hooks", body, Some(&sig))
            .await
            .assert_error(400, "invalid_event");
    }
}

#[tokio::test]
async fn webhook_integrations_are_honoured() {
    let app = spawn_app().await;
    let body =
        r#"{"type":"track","userId":"u1","event":"E","integrations":{"Actions Customerio":false}}"#;
    let sig = hmac_hex(HOOK_SECRET, body.as_bytes());
    post_signed(&app, "/webhook/hooks", body, Some(&sig))
        .await
        .assert_success();
    assert_eq!(app.events("hooks", "track", "filtered").await, 1);
}

#[tokio::test]
async fn an_unknown_source_is_404_json() {
    let app = spawn_app().await;
    post_signed(&app, "/webhook/nobody", CLASSIC_BODY, None)
        .await
        .assert_error(404, "unknown_source");
}

#[tokio::test]
async fn a_source_without_a_secret_takes_its_write_key_in_any_form() {
    let app = spawn_app().await;
    let body = json!({"type": "track", "userId": "u1", "event": "E"});
    // ?writeKey= in the query: what a webhook URL can carry.
    let req = app
        .client
        .post(app.url(&format!("/webhook/web?writeKey={WRITE_KEY}")))
        .body(body.to_string());
    app.send(req).await.assert_success();
    // The header forms and the body, as on the API paths.
    for auth in [
        Auth::Basic(WRITE_KEY),
        Auth::BasicNoColon(WRITE_KEY),
        Auth::Bearer(WRITE_KEY),
    ] {
        app.post_json("/webhook/web", auth, &body)
            .await
            .assert_success();
    }
    let mut with_key = body.clone();
    with_key["writeKey"] = json!(WRITE_KEY);
    app.post_json("/webhook/web", Auth::None, &with_key)
        .await
        .assert_success();
    // An array body with the key in the query.
    let req = app
        .client
        .post(app.url(&format!("/webhook/web?writeKey={WRITE_KEY}")))
        .body(json!([body.clone(), body]).to_string());
    app.send(req).await.assert_success();
    assert_eq!(app.events("web", "track", "accepted").await, 7);
}

#[tokio::test]
async fn a_source_without_a_secret_refuses_a_missing_or_foreign_key() {
    let app = spawn_app().await;
    let body = json!({"type": "track", "userId": "u1", "event": "E"});
    app.post_json("/webhook/web", Auth::None, &body)
        .await
        .assert_error(401, "unauthorized");
    // Another source's valid key does not open this source's webhook.
    app.post_json("/webhook/web", Auth::Basic(LENIENT_KEY), &body)
        .await
        .assert_error(401, "unauthorized");
    let req = app
        .client
        .post(app.url("/webhook/web?writeKey=wrong"))
        .body(body.to_string());
    app.send(req).await.assert_error(401, "unauthorized");
    assert_eq!(app.all_events("web").await, 0);
}

#[tokio::test]
async fn webhook_bodies_must_be_an_object_or_an_array() {
    let app = spawn_app().await;
    let req = app
        .client
        .post(app.url(&format!("/webhook/web?writeKey={WRITE_KEY}")))
        .body("\"a string\"");
    app.send(req).await.assert_error(400, "invalid_body");
    let req = app
        .client
        .post(app.url(&format!("/webhook/web?writeKey={WRITE_KEY}")))
        .body("{not json");
    app.send(req).await.assert_error(400, "invalid_json");
}
