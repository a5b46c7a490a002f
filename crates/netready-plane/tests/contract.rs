//! The contract slips of issue 20, each held by a test against real databases: a runner name is
//! checked by one rule wherever it comes in; a report whose integers are written `3.0` (valid by
//! its JSON Schema) is accepted; `include_stale=` (empty) is refused as the OpenAPI document says.

#![allow(clippy::unwrap_used)]

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::*;

both_backends!(a_runner_name_is_checked_by_one_rule_everywhere, |store: netready_plane::Store| async move {
    let router = router(&store);
    // 100 CJK characters are 300 bytes: within the rule (200 characters) for the API and for
    // add_runner alike.
    let cjk = "东京構築".repeat(25);
    assert_eq!((cjk.chars().count(), cjk.len()), (100, 300));
    let made = call(&router, admin_json("POST", "/api/v1/runners", json!({ "name": cjk }))).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    assert_eq!(made.json()["name"], cjk.as_str());
    let id = made.json()["id"].as_str().unwrap().to_owned();
    let (direct, _) = netready_plane::add_runner(&store, &cjk).await.unwrap();
    assert_ne!(direct.as_str(), id);
    // Renamed to 200 CJK characters (600 bytes): accepted too.
    let long = "名".repeat(200);
    let renamed = call(&router, admin_json("PATCH", &format!("/api/v1/runners/{id}"), json!({ "name": long }))).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(renamed.json()["name"], long.as_str());
    // 201 characters: refused by both, the API with its documented 422 and the caller's mistake
    // named — never 503, and nothing stored.
    let over = "名".repeat(201);
    let refused = call(&router, admin_json("POST", "/api/v1/runners", json!({ "name": over }))).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
    assert_eq!(refused.json()["error"], "invalid_name");
    assert!(refused.json()["message"].as_str().unwrap().contains("1 to 200 printable characters"));
    match netready_plane::add_runner(&store, &over).await {
        Err(netready_plane::StoreError::InvalidInput(m)) => assert!(m.contains("200 printable"), "{m}"),
        other => panic!("add_runner took a 201-character name: {other:?}"),
    }
    // A storage refusal of the caller's input is a 400 that says it, not "database unavailable".
    let api: netready_plane::error::ApiError = netready_plane::StoreError::InvalidInput("bad name".into()).into();
    assert_eq!((api.status, api.code, api.message.as_str()), (StatusCode::BAD_REQUEST, "bad_request", "bad name"));
    assert_eq!(store.runners().await.unwrap().len(), 2);
});

/// Every integer of a report written with a zero fraction (`3` as `3.0`).
fn as_floats(v: &mut Value) {
    match v {
        Value::Number(n) if n.is_u64() || n.is_i64() => *v = json!(n.as_f64().unwrap()),
        Value::Array(items) => items.iter_mut().for_each(as_floats),
        Value::Object(members) => members.values_mut().for_each(as_floats),
        _ => {}
    }
}

both_backends!(integers_written_as_3_0_are_accepted_as_their_schema_says, |store: netready_plane::Store| async move {
    let (id, token) = netready_plane::add_runner(&store, "floats").await.unwrap();
    let router = router(&store);
    for (n, mut report) in [report_v1(), report(), report_v3()].into_iter().enumerate() {
        report["checked_at"] = json!(format!("2026-11-26T13:4{n}:00.000Z"));
        let plain = report.clone();
        as_floats(&mut report);
        let text = report.to_string();
        assert!(text.contains("\"schema_version\":") && text.contains(".0,"), "{text}");
        // Valid by the shipped JSON Schema (2020-12: 3.0 is an integer)…
        let version = plain["schema_version"].as_u64().unwrap() as u32;
        let schema: Value = serde_json::from_str(netready_check::report::schema_of(version).unwrap()).unwrap();
        assert!(jsonschema::validator_for(&schema).unwrap().is_valid(&report), "v{version} schema refuses 3.0");
        // …and so accepted, stored with its integers as integers.
        let a = call(&router, post_report(&id, Some(&token), text)).await;
        assert_eq!(a.status, StatusCode::CREATED, "v{version}: {}", a.text);
        let one = call(&router, admin_get(&format!("/api/v1/runners/{id}"))).await.json();
        assert_eq!(one["report"]["duration_ms"], plain["duration_ms"], "v{version}");
        assert!(one["report"]["duration_ms"].is_u64(), "v{version}");
    }
    // A fraction that is not zero is still refused, by the schema, naming where.
    let mut bad = report();
    bad["duration_ms"] = json!(3.5);
    let a = call(&router, post_report(&id, Some(&token), bad.to_string())).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.text);
    assert!(a.json()["message"].as_str().unwrap().contains("/duration_ms"), "{}", a.text);
});

both_backends!(include_stale_takes_true_or_false_only, |store: netready_plane::Store| async move {
    let router = router(&store);
    for ok in ["", "?include_stale=true", "?include_stale=false"] {
        let a = call(&router, admin_get(&format!("/api/v1/fleet{ok}"))).await;
        assert_eq!(a.status, StatusCode::OK, "{ok}: {}", a.text);
    }
    for bad in ["?include_stale=", "?include_stale=yes", "?include_stale=1"] {
        let a = call(&router, admin_get(&format!("/api/v1/fleet{bad}"))).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {}", a.text);
        assert_eq!(a.json()["error"], "bad_request");
        assert!(a.json()["message"].as_str().unwrap().contains("include_stale"), "{}", a.text);
    }
});
