//! The plane's API and dashboard against real databases: a SQLite file, and PostgreSQL.

#![allow(clippy::unwrap_used)]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use netready_plane::add_runner;
use serde_json::{Value, json};
use support::*;

both_backends!(a_report_is_stored_and_read_back, |store: netready_plane::Store| async move {
    let (id, token) = add_runner(&store, "runner-eu-1").await.unwrap();
    let router = router(&store);
    let report = report();
    let a = call(&router, post_report(&id, Some(&token), report.to_string())).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert_eq!(a.json(), json!({"stored": true, "duplicate": false, "checked_at": "2026-11-26T13:43:38.555Z"}));

    let list = call(&router, admin_get("/api/v1/runners")).await.json();
    assert_eq!(list["count"], 1);
    let r = &list["runners"][0];
    assert_eq!((r["id"].as_str().unwrap(), r["name"].as_str().unwrap()), (id.as_str(), "runner-eu-1"));
    assert_eq!(r["readiness"], "degraded");
    assert_eq!(
        r["degraded_endpoints"],
        json!([{"service": "logs", "host": "logs.eu-west-3.amazonaws.com", "reachability": "none", "access_type": "vpc_endpoint"}])
    );

    let one = call(&router, admin_get(&format!("/api/v1/runners/{id}"))).await.json();
    assert_eq!(one["report"], report, "the stored report is the one sent");

    let history = call(&router, admin_get(&format!("/api/v1/runners/{id}/history"))).await.json();
    assert_eq!(history["changes"], json!([{"at": "2026-11-26T13:43:38.555Z", "from": null, "to": "degraded"}]));
    assert_eq!(history["reports"].as_array().unwrap().len(), 1);
});

both_backends!(version_1_reports_are_still_accepted_and_shown, |store: netready_plane::Store| async move {
    let (id, token) = add_runner(&store, "old-agent").await.unwrap();
    let router = router(&store);
    let v1 = report_v1();
    let a = call(&router, post_report(&id, Some(&token), v1.to_string())).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let one = call(&router, admin_get(&format!("/api/v1/runners/{id}"))).await.json();
    assert_eq!(one["report"], v1, "the stored report is the one sent, in its own version");
    let list = call(&router, admin_get("/api/v1/runners")).await.json();
    assert_eq!(list["runners"][0]["degraded_endpoints"][0]["service"], "logs");
    let page = call(&router, admin_get(&format!("/dashboard/runners/{id}"))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("report version 1 (no TLS phase)"), "{}", page.text);
    assert!(page.text.contains("logs.eu-west-3.amazonaws.com"));
});

both_backends!(a_version_2_report_shows_its_tls_phase, |store: netready_plane::Store| async move {
    let (id, token) = add_runner(&store, "new-agent").await.unwrap();
    let router = router(&store);
    let mut r = report();
    r["status"] = json!("degraded");
    r["endpoints"][3]["reachability"] = json!("none");
    r["endpoints"][3]["connections"][0]["tls"] = json!({
        "outcome": "untrusted", "error": "the certificate does not verify: invalid peer certificate: UnknownIssuer",
        "duration_ms": 3, "budget_ms": 1990, "version": null,
        "certificate": {"subject": "CN=111122223333.dkr.ecr.eu-west-3.amazonaws.com", "issuer": "CN=Corp Inspection CA", "not_after": "2027-01-01T00:00:00Z"}
    });
    let a = call(&router, post_report(&id, Some(&token), r.to_string())).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let page = call(&router, admin_get(&format!("/dashboard/runners/{id}"))).await;
    assert!(page.text.contains("untrusted"), "the TLS outcome is shown");
    assert!(page.text.contains("issuer CN=Corp Inspection CA"), "the presented issuer is shown");
    assert!(page.text.contains("TLSv1.3"), "the TLS version of a good handshake is shown");
    let list = call(&router, admin_get("/api/v1/runners")).await.json();
    let degraded: Vec<&str> = list["runners"][0]["degraded_endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["service"].as_str().unwrap())
        .collect();
    assert_eq!(degraded, ["logs", "ecr_dkr"]);
});

both_backends!(a_version_3_report_carries_routes_and_findings_to_the_page, |store: netready_plane::Store| async move {
    let (id, token) = add_runner(&store, "diagnosing-agent").await.unwrap();
    let router = router(&store);
    let v3 = report_v3();
    let a = call(&router, post_report(&id, Some(&token), v3.to_string())).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let one = call(&router, admin_get(&format!("/api/v1/runners/{id}"))).await.json();
    assert_eq!(one["report"], v3, "the stored report is the one sent");
    let history = call(&router, admin_get(&format!("/api/v1/runners/{id}/history"))).await.json();
    let summary = history["reports"][0]["summary"].as_str().unwrap();
    assert!(summary.split(',').nth(4).unwrap().starts_with("fg"), "s3 through its gateway endpoint: {summary}");

    let page = call(&router, admin_get(&format!("/dashboard/runners/{id}"))).await;
    assert_eq!(page.status, StatusCode::OK);
    let finding = &v3["diagnosis"]["findings"][0];
    for want in [
        "id=\"findings\"",
        "vpc_endpoint.ingress_denied",
        finding["resources"][1].as_str().unwrap(),
        "do not allow inbound TCP 443 from the task",
        "add an inbound rule allowing TCP 443",
        "gateway_endpoint",
        "pl-6da54004 → vpce-0s31a2b3c4d5e6f7",
        "rtb-0a1b2c3d4e5f6a7b8",
        "aws api ok",
    ] {
        assert!(page.text.contains(want), "{want} not on the page");
    }
    // The route and the access type of each address, in the readiness table.
    let logs_row = page.text.split("data-service=\"logs\"").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(logs_row.contains("10.0.0.0/16 → local"), "{logs_row}");
});

both_backends!(a_version_2_body_keeps_nothing_version_3_defines, |store: netready_plane::Store| async move {
    let (id, token) = add_runner(&store, "v2-agent").await.unwrap();
    let router = router(&store);
    // A version 2 report carrying fields of version 3 (a version 2 reader ignores unknown fields):
    // stored as what version 2 defines.
    let mut r = report();
    let v3 = report_v3();
    r["diagnosis"] = v3["diagnosis"].clone();
    r["endpoints"][4]["connections"][0]["route"] = v3["endpoints"][4]["connections"][0]["route"].clone();
    let a = call(&router, post_report(&id, Some(&token), r.to_string())).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let one = call(&router, admin_get(&format!("/api/v1/runners/{id}"))).await.json();
    assert_eq!(one["report"], report(), "the version 2 report, without what only version 3 defines");
    let page = call(&router, admin_get(&format!("/dashboard/runners/{id}"))).await;
    assert!(!page.text.contains("vpc_endpoint.ingress_denied"));
    assert!(page.text.contains("report version 2 (no AWS API diagnosis)"), "{}", page.text);
});

both_backends!(
    a_version_4_report_is_stored_as_sent_and_a_version_3_body_keeps_none_of_its_fields,
    |store: netready_plane::Store| async move {
        let v4: Value = serde_json::from_str(include_str!("../../../tests/fixtures/report-v4-degraded.json")).unwrap();
        let mut v4 = v4;
        // What version 4 adds: why a certificate did not verify, and the small-segment retry.
        v4["endpoints"][0]["connections"][0]["tls"] = json!({
            "outcome": "untrusted", "error": "the certificate does not verify: expired", "reason": "expired",
            "task_clock": "2026-11-26T13:43:38Z", "duration_ms": 2, "budget_ms": 1999, "version": null,
            "certificate": {"subject": "CN=a", "issuer": "CN=b", "not_before": "2025-01-01T00:00:00Z", "not_after": "2026-01-01T00:00:00Z"}
        });
        v4["endpoints"][2]["connections"][0]["tls"] = json!({
            "outcome": "timeout", "duration_ms": 1003, "budget_ms": 1999, "version": null, "certificate": null,
            "retry": {"mss": 536, "first_mss": 1448, "after_ms": 999, "duration_ms": 4, "outcome": "ok"}
        });
        let (id, token) = add_runner(&store, "v4-agent").await.unwrap();
        let router = router(&store);
        let a = call(&router, post_report(&id, Some(&token), v4.to_string())).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        let one = call(&router, admin_get(&format!("/api/v1/runners/{id}"))).await.json();
        assert_eq!(one["report"], v4, "the stored report is the one sent");

        let (id, token) = add_runner(&store, "v3-agent").await.unwrap();
        let mut as_v3 = v4.clone();
        as_v3["schema_version"] = json!(3);
        let a = call(&router, post_report(&id, Some(&token), as_v3.to_string())).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        let one = call(&router, admin_get(&format!("/api/v1/runners/{id}"))).await.json();
        let tls = &one["report"]["endpoints"][0]["connections"][0]["tls"];
        assert_eq!(tls["outcome"], "untrusted");
        for field in ["reason", "task_clock"] {
            assert!(tls.get(field).is_none(), "{field} kept in a version 3 report: {tls}");
        }
        assert!(tls["certificate"].get("not_before").is_none(), "{tls}");
        assert!(one["report"]["endpoints"][2]["connections"][0]["tls"].get("retry").is_none());
    }
);

both_backends!(the_same_checked_at_twice_is_one_report, |store: netready_plane::Store| async move {
    let (id, token) = add_runner(&store, "r").await.unwrap();
    let router = router(&store);
    let body = report().to_string();
    assert_eq!(call(&router, post_report(&id, Some(&token), body.clone())).await.status, StatusCode::CREATED);
    let again = call(&router, post_report(&id, Some(&token), body)).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["duplicate"], true);
    assert_eq!(store.count_reports(&id).await.unwrap(), 1);
});

both_backends!(status_changes_and_late_reports, |store: netready_plane::Store| async move {
    let (id, token) = add_runner(&store, "r").await.unwrap();
    let router = router(&store);
    let mut r = report();
    for (at, status) in [
        ("2026-11-26T13:00:00.000Z", "degraded"),
        ("2026-11-26T13:05:00.000Z", "ready"),
        ("2026-11-26T13:10:00.000Z", "ready"),
    ] {
        r["checked_at"] = json!(at);
        r = with_status(r, status);
        assert_eq!(call(&router, post_report(&id, Some(&token), r.to_string())).await.status, StatusCode::CREATED);
    }
    // A report from before the newest one arrives late: kept in history, the state stays.
    r["checked_at"] = json!("2026-11-26T12:55:00.000Z");
    r = with_status(report(), "degraded");
    r["checked_at"] = json!("2026-11-26T12:55:00.000Z");
    assert_eq!(call(&router, post_report(&id, Some(&token), r.to_string())).await.status, StatusCode::CREATED);
    let list = call(&router, admin_get("/api/v1/runners")).await.json();
    assert_eq!(list["runners"][0]["readiness"], "ready");
    assert_eq!(list["runners"][0]["last_checked_at"], "2026-11-26T13:10:00.000Z");
    let history = call(&router, admin_get(&format!("/api/v1/runners/{id}/history"))).await.json();
    let changes: Vec<(Value, Value)> =
        history["changes"].as_array().unwrap().iter().map(|c| (c["from"].clone(), c["to"].clone())).collect();
    assert_eq!(changes, [(json!("degraded"), json!("ready")), (Value::Null, json!("degraded"))]);
    assert_eq!(history["reports"].as_array().unwrap().len(), 4);
    assert_eq!(store.count_reports(&id).await.unwrap(), 4);
});

both_backends!(tokens_are_checked_and_nothing_is_stored_without_one, |store: netready_plane::Store| async move {
    let (a, token_a) = add_runner(&store, "a").await.unwrap();
    let (b, token_b) = add_runner(&store, "b").await.unwrap();
    let router = router(&store);
    let body = report().to_string();
    let cases = [
        (a.to_string(), None, StatusCode::UNAUTHORIZED, "missing runner token"),
        (a.to_string(), Some("nrt_0000".to_owned()), StatusCode::UNAUTHORIZED, "unknown runner token"),
        (a.to_string(), Some(token_b.clone()), StatusCode::FORBIDDEN, "only report for its own runner"),
        ("rn-doesnotexist".to_owned(), Some(token_a.clone()), StatusCode::FORBIDDEN, "own runner"),
        (a.to_string(), Some(ADMIN.to_owned()), StatusCode::UNAUTHORIZED, "unknown runner token"),
    ];
    for (runner, token, status, says) in cases {
        let ans = call(&router, post_report(&runner, token.as_deref(), body.clone())).await;
        assert_eq!(ans.status, status, "{runner} {token:?}: {}", ans.text);
        assert!(ans.json()["message"].as_str().unwrap().contains(says), "{}", ans.text);
        assert!(ans.json()["error"].is_string());
    }
    assert!(store.revoke_runner(&b).await.unwrap());
    let ans = call(&router, post_report(&b, Some(&token_b), body)).await;
    assert_eq!(ans.status, StatusCode::UNAUTHORIZED);
    assert!(ans.text.contains("revoked"));
    assert_eq!(store.count_reports(&a).await.unwrap() + store.count_reports(&b).await.unwrap(), 0);
});

both_backends!(bad_bodies_get_clear_4xx_and_store_nothing, |store: netready_plane::Store| async move {
    let (id, token) = add_runner(&store, "r").await.unwrap();
    let router = router(&store);
    let mut wrong_type = report();
    wrong_type["endpoints"][0]["port"] = json!("443");
    let mut v5 = report_v3();
    v5["schema_version"] = json!(5);
    let mut v2_shape_as_v3 = report();
    v2_shape_as_v3["schema_version"] = json!(3);
    let mut bad_severity = report_v3();
    bad_severity["diagnosis"]["findings"][0]["severity"] = json!("fatal");
    let mut bad_route = report_v3();
    bad_route["endpoints"][4]["connections"][0]["route"]["state"] = json!("gone");
    let mut refined_in_v2 = report();
    refined_in_v2["endpoints"][4]["access_type"] = json!("gateway_endpoint");
    let mut v1_shape_as_v2 = report_v1();
    v1_shape_as_v2["schema_version"] = json!(2);
    let mut bad_tls = report();
    bad_tls["endpoints"][0]["connections"][0]["tls"]["outcome"] = json!("intercepted");
    let mut error_without_text = report();
    error_without_text["endpoints"][0]["connections"][0]["tcp"] =
        json!({"outcome": "refused", "duration_ms": 0, "budget_ms": 1});
    let mut no_version = report();
    no_version.as_object_mut().unwrap().remove("schema_version");
    let mut future = report();
    future["checked_at"] = json!("2099-01-01T00:00:00.000Z");
    let mut bad_time = report();
    bad_time["checked_at"] = json!("yesterday");
    let mut offset = report();
    offset["checked_at"] = json!("2026-11-26T15:43:38.555+02:00");
    let mut bad_enum = report();
    bad_enum["endpoints"][1]["access_type"] = json!("carrier_pigeon");
    let huge = format!("{{\"schema_version\": 1, \"padding\": \"{}\"}}", "x".repeat(300 * 1024));
    let mut bad_ip = report();
    bad_ip["endpoints"][0]["dns"]["addresses"][0]["ip"] = json!("");
    let mut huge_duration = report();
    huge_duration["duration_ms"] = json!(18446744073709551615u64);
    let cases: Vec<(String, StatusCode, &str, &str)> = vec![
        (bad_ip.to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_report", "/endpoints/0/dns/addresses/0/ip"),
        (huge_duration.to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_report", "/duration_ms"),
        ("{not json".into(), StatusCode::BAD_REQUEST, "bad_request", "not valid JSON"),
        (wrong_type.to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_report", "/endpoints/0/port"),
        (bad_enum.to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_report", "/endpoints/1/access_type"),
        (
            v5.to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_schema_version",
            "accepted versions: [1, 2, 3, 4]",
        ),
        (v2_shape_as_v3.to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_report", "\"diagnosis\""),
        (
            bad_severity.to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_report",
            "/diagnosis/findings/0/severity",
        ),
        (
            bad_route.to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_report",
            "/endpoints/4/connections/0/route/state",
        ),
        (refined_in_v2.to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_report", "/endpoints/4/access_type"),
        (v1_shape_as_v2.to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_report", "schema version 2"),
        (bad_tls.to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_report", "/endpoints/0/connections/0/tls"),
        (
            error_without_text.to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_report",
            "/endpoints/0/connections/0/tcp",
        ),
        (no_version.to_string(), StatusCode::UNPROCESSABLE_ENTITY, "unsupported_schema_version", "no schema_version"),
        (future.to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_report", "in the future"),
        (bad_time.to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_report", "checked_at"),
        (offset.to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_report", "/checked_at"),
        ("[]".into(), StatusCode::UNPROCESSABLE_ENTITY, "unsupported_schema_version", "schema_version"),
        (huge, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "262144 bytes"),
    ];
    for (body, status, code, says) in cases {
        let ans = call(&router, post_report(&id, Some(&token), body)).await;
        assert_eq!(ans.status, status, "{}", ans.text);
        let j = ans.json();
        assert_eq!(j["error"], code, "{}", ans.text);
        assert!(j["message"].as_str().unwrap().contains(says), "{says} not in {}", ans.text);
    }
    let text_plain = Request::post(format!("/api/v1/runners/{id}/network-readiness"))
        .header("content-type", "text/plain")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(report().to_string()))
        .unwrap();
    let ans = call(&router, text_plain).await;
    assert_eq!(ans.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(ans.json()["message"].as_str().unwrap().contains("application/json"));
    assert_eq!(store.count_reports(&id).await.unwrap(), 0, "nothing stored");
    assert_eq!(call(&router, admin_get("/api/v1/runners")).await.json()["runners"][0]["readiness"], "unknown");
});

both_backends!(the_read_api_and_dashboard_need_the_admin_token, |store: netready_plane::Store| async move {
    let (id, _) = add_runner(&store, "r").await.unwrap();
    let router = router(&store);
    for path in ["/api/v1/runners".to_owned(), format!("/api/v1/runners/{id}"), format!("/api/v1/runners/{id}/history")]
    {
        let ans = call(&router, Request::get(&path).body(Body::empty()).unwrap()).await;
        assert_eq!(ans.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(ans.json()["error"], "unauthorized");
        let wrong = Request::get(&path).header("authorization", "Bearer nope").body(Body::empty()).unwrap();
        assert_eq!(call(&router, wrong).await.status, StatusCode::UNAUTHORIZED);
    }
    for path in ["/dashboard".to_owned(), format!("/dashboard/runners/{id}")] {
        let ans = call(&router, Request::get(&path).body(Body::empty()).unwrap()).await;
        assert_eq!(ans.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(ans.headers["location"], "/login");
    }
    let bad_login = Request::post("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("token=nope"))
        .unwrap();
    let ans = call(&router, bad_login).await;
    assert_eq!(ans.status, StatusCode::UNAUTHORIZED);
    assert!(ans.headers.get("set-cookie").is_none());
    let login = Request::post("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={ADMIN}")))
        .unwrap();
    let ans = call(&router, login).await;
    let cookie = ans.headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    assert!(!cookie.contains(ADMIN), "the cookie does not carry the admin token itself");
    let page = call(&router, Request::get("/dashboard").header("cookie", &cookie).body(Body::empty()).unwrap()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("Runners"));
    let nf = call(&router, admin_get("/api/v1/runners/rn-nope")).await;
    assert_eq!(nf.status, StatusCode::NOT_FOUND);
    let bad_filter = call(&router, admin_get("/api/v1/runners?readiness=sad")).await;
    assert_eq!(bad_filter.status, StatusCode::BAD_REQUEST);
    assert!(bad_filter.text.contains("expected ready, degraded, stale or unknown"));
});

both_backends!(text_from_names_and_reports_is_escaped, |store: netready_plane::Store| async move {
    let (id, token) = add_runner(&store, "<script>alert('name')</script>").await.unwrap();
    let router = router(&store);
    let mut r = report();
    r["endpoints"][1]["hints"] = json!(["<script>alert('hint')</script>"]);
    r["endpoints"][1]["connections"][0]["tcp"] =
        json!({"outcome": "error", "error": "<img src=x onerror=alert(1)>", "duration_ms": 0, "budget_ms": 1});
    assert_eq!(call(&router, post_report(&id, Some(&token), r.to_string())).await.status, StatusCode::CREATED);
    for path in ["/dashboard".to_owned(), format!("/dashboard/runners/{id}")] {
        let page = call(&router, admin_get(&path)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.text.contains("<script>alert"), "{path} has a raw script");
        assert!(!page.text.contains("<img src=x"), "{path} has a raw img");
        assert!(page.text.contains("&lt;script&gt;alert("), "{path} shows the text escaped");
    }
});

both_backends!(readiness_filters_and_order, |store: netready_plane::Store| async move {
    let router = router(&store);
    let (ready, tr) = add_runner(&store, "b-ready").await.unwrap();
    let (degraded, td) = add_runner(&store, "c-degraded").await.unwrap();
    add_runner(&store, "a-never").await.unwrap();
    let mut r = report();
    r["checked_at"] = json!(netready_plane::api::runners::rfc3339(netready_plane::db::now_ms()));
    call(&router, post_report(&degraded, Some(&td), r.to_string())).await;
    let r = with_status(r, "ready");
    call(&router, post_report(&ready, Some(&tr), r.to_string())).await;
    let list = call(&router, admin_get("/api/v1/runners")).await.json();
    let order: Vec<&str> =
        list["runners"].as_array().unwrap().iter().map(|r| r["readiness"].as_str().unwrap()).collect();
    assert_eq!(order, ["degraded", "unknown", "ready"]);
    let only = call(&router, admin_get("/api/v1/runners?readiness=ready")).await.json();
    assert_eq!(only["count"], 1);
    let q = call(&router, admin_get("/api/v1/runners?q=NEVER")).await.json();
    assert_eq!(q["runners"][0]["name"], "a-never");

    // With a tiny stale window, both reporters are stale.
    let stale =
        netready_plane::app(netready_plane::AppState::new(store.clone(), ADMIN, std::time::Duration::from_millis(1)));
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let list = call(&stale, admin_get("/api/v1/runners?readiness=stale")).await.json();
    assert_eq!(list["count"], 2);
});

both_backends!(retention_keeps_the_newest_report, |store: netready_plane::Store| async move {
    let (id, token) = add_runner(&store, "r").await.unwrap();
    let router = router(&store);
    let mut r = report();
    for at in ["2026-11-26T13:00:00.000Z", "2026-11-26T13:05:00.000Z", "2026-11-26T13:10:00.000Z"] {
        r["checked_at"] = json!(at);
        call(&router, post_report(&id, Some(&token), r.to_string())).await;
    }
    let pruned = store.prune(netready_plane::db::now_ms() + 1000).await.unwrap();
    assert_eq!(pruned, 2);
    assert_eq!(store.count_reports(&id).await.unwrap(), 1);
    let one = call(&router, admin_get(&format!("/api/v1/runners/{id}"))).await.json();
    assert_eq!(one["report"]["checked_at"], "2026-11-26T13:10:00.000Z");
});

#[tokio::test]
async fn migrations_apply_once_and_reopen_cleanly() {
    let db = support::sqlite();
    let store = netready_plane::Store::open(&db.url).await.unwrap();
    let (id, _) = add_runner(&store, "kept").await.unwrap();
    store.close().await;
    let store = netready_plane::Store::open(&db.url).await.unwrap();
    assert_eq!(store.runner(&id).await.unwrap().unwrap().name, "kept");
}

/// What a plane of schema 4 stored (compact rows in `reports`, bodies in `report_bodies` keyed by
/// the text timestamp) is all there after schema 5: the history, the newest body, the first body
/// of each run; two spellings of one instant become one check.
async fn schema_4_history_survives_the_move_to_checks(url: &str) {
    netready_plane::db::migrate_database_up_to(url, 4).await.unwrap();
    {
        use sqlx::any::{AnyPoolOptions, install_default_drivers};
        install_default_drivers();
        let url = if url.starts_with("postgres") { url.to_owned() } else { format!("sqlite://{url}") };
        let pool = AnyPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
        sqlx::query("INSERT INTO runners (id, name, token_hash, created_at) VALUES ('rn-000000000004', 'old', 'h', 0)")
            .execute(&pool)
            .await
            .unwrap();
        let rows = [
            ("2026-11-26T10:00:00.000Z", 1_795_687_200_000i64, "degraded", 1),
            ("2026-11-26T10:05:00.000Z", 1_795_687_500_000, "degraded", 0),
            ("2026-11-26T10:05:00.0000Z", 1_795_687_500_000, "degraded", 0),
            ("2026-11-26T10:10:00.000Z", 1_795_687_800_000, "ready", 1),
        ];
        for (at, ms, status, run_start) in rows {
            sqlx::query(
                "INSERT INTO reports (runner_id, checked_at, checked_at_ms, received_at, status, degraded, body, \
                 summary, run_start) VALUES ('rn-000000000004', $1, $2, $2, $3, '[]', '', 'fv1', $4)",
            )
            .bind(at)
            .bind(ms)
            .bind(status)
            .bind(run_start)
            .execute(&pool)
            .await
            .unwrap();
        }
        for at in ["2026-11-26T10:00:00.000Z", "2026-11-26T10:10:00.000Z"] {
            let mut body = report();
            body["checked_at"] = json!(at);
            sqlx::query("INSERT INTO report_bodies (runner_id, checked_at, body) VALUES ('rn-000000000004', $1, $2)")
                .bind(at)
                .bind(body.to_string())
                .execute(&pool)
                .await
                .unwrap();
        }
        sqlx::query(
            "INSERT INTO runner_state (runner_id, checked_at, checked_at_ms, status, degraded, last_received_at, \
             fingerprint, run_start) VALUES ('rn-000000000004', '2026-11-26T10:10:00.000Z', 1795687800000, 'ready', \
             '[]', 1795687800000, 'f', 1)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let store = netready_plane::Store::open(url).await.unwrap();
    assert_eq!(store.count_reports("rn-000000000004").await.unwrap(), 3, "two spellings of 10:05 are one check");
    assert_eq!(store.count_bodies("rn-000000000004").await.unwrap(), 2, "the run starts at 10:00 and 10:10");
    let router = router(&store);
    let one = call(&router, admin_get("/api/v1/runners/rn-000000000004")).await.json();
    assert_eq!(one["report"]["checked_at"], "2026-11-26T10:10:00.000Z", "the newest body: {one}");
    let history = call(&router, admin_get("/api/v1/runners/rn-000000000004/history")).await.json();
    let times: Vec<&str> =
        history["reports"].as_array().unwrap().iter().map(|r| r["checked_at"].as_str().unwrap()).collect();
    assert_eq!(times, ["2026-11-26T10:10:00.000Z", "2026-11-26T10:05:00.000Z", "2026-11-26T10:00:00.000Z"]);
    store.close().await;
}

#[tokio::test]
async fn schema_4_history_survives_the_move_to_checks_sqlite() {
    let db = support::sqlite();
    schema_4_history_survives_the_move_to_checks(&db.url).await;
}

#[tokio::test]
async fn schema_4_history_survives_the_move_to_checks_postgres() {
    let Some(db) = support::postgres().await else { return };
    schema_4_history_survives_the_move_to_checks(&db.url).await;
}

#[tokio::test]
async fn openapi_and_health_are_public() {
    let db = support::sqlite();
    let store = netready_plane::Store::open(&db.url).await.unwrap();
    let router = router(&store);
    let doc = call(&router, Request::get("/api/v1/openapi.json").body(Body::empty()).unwrap()).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.json()["openapi"].as_str().unwrap().chars().next(), Some('3'));
    assert_eq!(call(&router, Request::get("/healthz").body(Body::empty()).unwrap()).await.status, StatusCode::OK);
}

/// A report schema as the OpenAPI document embeds it: without `$schema` and `$id`, its `$defs`
/// references pointing into the component, so that any OpenAPI client resolves them.
fn embedded(schema: &str, component: &str) -> Value {
    fn walk(v: Value, component: &str) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| match (&*k, v) {
                        ("$ref", Value::String(r)) if r.starts_with("#/$defs/") => {
                            let to = format!("#/components/schemas/{component}/$defs/{}", &r["#/$defs/".len()..]);
                            (k, Value::String(to))
                        }
                        (_, v) => (k, walk(v, component)),
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| walk(v, component)).collect()),
            other => other,
        }
    }
    let mut v: Value = serde_json::from_str(schema).unwrap();
    v.as_object_mut().unwrap().remove("$schema");
    v.as_object_mut().unwrap().remove("$id");
    walk(v, component)
}

#[test]
fn the_openapi_document_carries_the_shipped_report_schemas() {
    let doc: Value = serde_json::from_str(netready_plane::api::OPENAPI).unwrap();
    let schemas = &doc["components"]["schemas"];
    // Every version the plane accepts, and only those (scripts/openapi-report-schemas.py embeds them).
    assert_eq!(netready_plane::api::readiness::ACCEPTED_SCHEMA_VERSIONS, [1, 2, 3, 4]);
    for version in netready_plane::api::readiness::ACCEPTED_SCHEMA_VERSIONS {
        let component = format!("ReportV{version}");
        let shipped = netready_check::report::schema_of(version).unwrap();
        assert_eq!(
            schemas[&component],
            embedded(shipped, &component),
            "regenerate {component} in openapi/plane-v1.json from schema/report-v{version}.schema.json \
             (scripts/openapi-report-schemas.py)"
        );
    }
    let one_of: Vec<&str> =
        schemas["Report"]["oneOf"].as_array().unwrap().iter().map(|r| r["$ref"].as_str().unwrap()).collect();
    assert_eq!(
        one_of,
        [
            "#/components/schemas/ReportV1",
            "#/components/schemas/ReportV2",
            "#/components/schemas/ReportV3",
            "#/components/schemas/ReportV4"
        ]
    );
    let report_versions = schemas.as_object().unwrap().keys().filter(|k| k.starts_with("ReportV")).count();
    assert_eq!(report_versions, 4, "no report schema beyond the accepted versions");
    for path in [
        "/api/v1/runners/{id}/network-readiness",
        "/api/v1/runners",
        "/api/v1/runners/{id}",
        "/api/v1/runners/{id}/history",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
}

both_backends!(concurrent_reports_are_batched_correctly, |store: netready_plane::Store| async move {
    // 5 runners × 20 reports, each sent twice, all at once: the writer batches them, and every
    // report is stored exactly once with the newest one as each runner's state.
    let mut runners = Vec::new();
    for i in 0..5 {
        runners.push(add_runner(&store, &format!("r{i}")).await.unwrap());
    }
    let router = router(&store);
    let mut tasks = Vec::new();
    for (id, token) in &runners {
        for minute in 0..20 {
            for _copy in 0..2 {
                let (router, id, token) = (router.clone(), id.clone(), token.clone());
                tasks.push(tokio::spawn(async move {
                    let mut r = report();
                    r["checked_at"] = json!(format!("2026-11-26T14:{minute:02}:00.000Z"));
                    let r = with_status(r, if minute % 2 == 0 { "degraded" } else { "ready" });
                    call(&router, post_report(&id, Some(&token), r.to_string())).await.status
                }));
            }
        }
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::OK => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 100, "each report created once");
    for (id, _) in &runners {
        assert_eq!(store.count_reports(id).await.unwrap(), 20);
        let one = call(&router, admin_get(&format!("/api/v1/runners/{id}"))).await.json();
        assert_eq!(one["runner"]["last_checked_at"], "2026-11-26T14:19:00.000Z");
        assert_eq!(one["runner"]["readiness"], "ready");
    }
});

both_backends!(lists_are_paged_and_counted_by_the_database, |store: netready_plane::Store| async move {
    let router = router(&store);
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(add_runner(&store, &format!("fleet_{i:02}")).await.unwrap());
    }
    add_runner(&store, "fleetX99").await.unwrap();
    let mut r = report();
    r["checked_at"] = json!(netready_plane::api::runners::rfc3339(netready_plane::db::now_ms()));
    for (id, token) in ids.iter().take(3) {
        call(&router, post_report(id, Some(token), r.to_string())).await;
    }
    let page = call(&router, admin_get("/api/v1/runners?limit=10&offset=0")).await.json();
    assert_eq!(page["count"], 26);
    assert_eq!(page["counts"], json!({"degraded": 3, "never_reported": 0, "stale": 0, "unknown": 23, "ready": 0}));
    let names: Vec<&str> = page["runners"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names[..3], ["fleet_00", "fleet_01", "fleet_02"], "degraded first, then by name");
    assert_eq!(page["runners"][0]["readiness"], "degraded");
    assert_eq!(page["runners"][3]["readiness"], "unknown");
    let last = call(&router, admin_get("/api/v1/runners?limit=10&offset=20")).await.json();
    assert_eq!(last["runners"].as_array().unwrap().len(), 6);
    // '_' is a literal in the filter, not a LIKE wildcard.
    let underscore = call(&router, admin_get("/api/v1/runners?q=fleet_")).await.json();
    assert_eq!(underscore["count"], 25);
    let unknown = call(&router, admin_get("/api/v1/runners?readiness=unknown&q=FLEET_1")).await.json();
    assert_eq!(unknown["count"], 10);
    for bad in ["limit=0", "limit=10001", "offset=-1", "limit=ten"] {
        let ans = call(&router, admin_get(&format!("/api/v1/runners?{bad}"))).await;
        assert_eq!(ans.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    // The dashboard pages by 200 and shows the counts.
    let page = call(&router, admin_get("/dashboard?readiness=degraded")).await;
    assert!(page.text.contains("3 runners"), "{}", page.text);
    assert!(page.text.contains("23 unknown"));
});

#[tokio::test]
async fn postgres_stores_reports_with_lz4_when_the_server_has_it() {
    let Some(db) = support::postgres().await else { return };
    let store = netready_plane::Store::open(&db.url).await.unwrap();
    let (id, token) = add_runner(&store, "r").await.unwrap();
    let router = router(&store);
    assert_eq!(call(&router, post_report(&id, Some(&token), report().to_string())).await.status, StatusCode::CREATED);
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let method: Option<String> =
        sqlx::query_scalar("SELECT pg_column_compression(body)::text FROM latest_reports LIMIT 1")
            .fetch_one(&mut c)
            .await
            .unwrap();
    // Debian's PostgreSQL 15 has lz4; a 5 KiB report is compressed inline.
    assert_eq!(method.as_deref(), Some("lz4"));
    let method: Option<String> =
        sqlx::query_scalar("SELECT pg_column_compression(body)::text FROM history_bodies LIMIT 1")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(method.as_deref(), Some("lz4"));
    store.close().await;
}

// ---- The plane keeps its promises with several replicas and under attack (issue 7). ----

/// 400 reports for one runner, sent alternately and concurrently to two replicas (each with its own
/// pool and writer) on one PostgreSQL database: the runner's state is the newest report, and the
/// status changes agree with the history. Five rounds: the race this guards against showed in 2–4.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_one_postgres_keep_the_newest_report_current() {
    let Some(db) = support::postgres().await else { return };
    let a = netready_plane::Store::open(&db.url).await.unwrap();
    let b = netready_plane::Store::open(&db.url).await.unwrap();
    let (router_a, router_b) = (router(&a), router(&b));
    for round in 0..5 {
        let (id, token) = add_runner(&a, &format!("replicated-{round}")).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..400u32 {
            let mut r = report();
            // Minute by minute from 10:00, status flipping every 7 reports.
            let t = 10 * 3600 + i * 60;
            r["checked_at"] = json!(format!("2026-11-26T{:02}:{:02}:{:02}.000Z", t / 3600, t / 60 % 60, t % 60));
            let r = with_status(r, if (i / 7) % 2 == 0 { "ready" } else { "degraded" });
            let router = if i % 2 == 0 { router_a.clone() } else { router_b.clone() };
            let (id, token) = (id.clone(), token.clone());
            tasks.push(tokio::spawn(async move { call(&router, post_report(&id, Some(&token), r.to_string())).await }));
        }
        for t in tasks {
            let ans = t.await.unwrap();
            assert_eq!(ans.status, StatusCode::CREATED, "{}", ans.text);
        }
        let one = call(&router_a, admin_get(&format!("/api/v1/runners/{id}"))).await.json();
        assert_eq!(one["runner"]["last_checked_at"], "2026-11-26T16:39:00.000Z", "round {round}: {one}");
        assert_eq!(a.count_reports(&id).await.unwrap(), 400);
        // Status changes (the state's moves; a late report is history only) form one chain in time
        // order, each from the previous one's `to`, ending at the current status.
        let mut changes = a.changes(&id, 1000).await.unwrap();
        changes.sort_by_key(|c| c.at_ms);
        assert!(!changes.is_empty() && changes.len() <= 58, "round {round}: {} changes", changes.len());
        assert_eq!(changes[0].from_status, None, "round {round}");
        for pair in changes.windows(2) {
            assert_eq!(pair[1].from_status.map(|s| s.as_str()), Some(pair[0].to_status.as_str()), "round {round}");
            assert_ne!(pair[1].from_status.map(|s| s.as_str()), Some(pair[1].to_status.as_str()), "round {round}");
        }
        assert_eq!(
            changes.last().unwrap().to_status.as_str(),
            one["runner"]["readiness"].as_str().unwrap(),
            "round {round}"
        );
    }
    a.close().await;
    b.close().await;
}

both_backends!(nul_bytes_and_bad_ids_are_client_errors_not_outages, |store: netready_plane::Store| async move {
    let router = router(&store);
    for path in ["/api/v1/runners/%00", "/api/v1/runners/%00/history", "/api/v1/runners/a%00b"] {
        let ans = call(&router, admin_get(path)).await;
        assert_eq!(ans.status, StatusCode::NOT_FOUND, "{path}: {}", ans.text);
        assert_eq!(ans.json()["error"], "not_found");
    }
    for path in ["/api/v1/runners?q=%00", "/api/v1/runners?q=a%01"] {
        let ans = call(&router, admin_get(path)).await;
        assert_eq!(ans.status, StatusCode::BAD_REQUEST, "{path}: {}", ans.text);
        assert!(ans.json()["message"].as_str().unwrap().contains("control character"), "{}", ans.text);
    }
    let page = call(&router, admin_get("/dashboard?q=%00")).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.text);
});

both_backends!(every_api_error_is_the_documented_json, |store: netready_plane::Store| async move {
    let router = router(&store);
    let cases = [
        ("/api/v1/runners/%FF", StatusCode::BAD_REQUEST),
        ("/api/v1/runners?limit=1&limit=2", StatusCode::BAD_REQUEST),
        ("/api/v1/nothing-here", StatusCode::NOT_FOUND),
        ("/api/v1/runners/x/../../etc", StatusCode::NOT_FOUND),
    ];
    for (path, status) in cases {
        let ans = call(&router, admin_get(path)).await;
        assert_eq!(ans.status, status, "{path}: {}", ans.text);
        assert_eq!(ans.headers["content-type"], "application/json", "{path}");
        let j = ans.json();
        assert!(j["error"].is_string() && j["message"].is_string(), "{path}: {j}");
    }
    let ans = call(&router, Request::get("/api/v1/runners").body(Body::empty()).unwrap()).await;
    assert_eq!(ans.status, StatusCode::UNAUTHORIZED);
    assert_eq!(ans.headers["www-authenticate"], "Bearer realm=\"netready\"");
    // A body cut short (the connection failed mid-body) is a bad request, not "too large".
    let (id, token) = add_runner(&store, "r").await.unwrap();
    let chunks: Vec<Result<&'static [u8], std::io::Error>> =
        vec![Ok(b"{\"schema_version\": 2, "), Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset))];
    let cut =
        call(&router, post_report(&id, Some(&token), Body::from_stream(futures_util::stream::iter(chunks)))).await;
    assert_eq!(cut.status, StatusCode::BAD_REQUEST, "{}", cut.text);
    assert!(cut.json()["message"].as_str().unwrap().contains("could not be read"), "{}", cut.text);
    let wrong_method = call(&router, Request::delete("/api/v1/openapi.json").body(Body::empty()).unwrap()).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.json()["error"], "method_not_allowed");
});

both_backends!(
    reports_that_contradict_themselves_or_are_too_old_are_refused,
    |store: netready_plane::Store| async move {
        let (id, token) = add_runner(&store, "r").await.unwrap();
        let router = router_as_served(&store);
        let recent = netready_plane::api::runners::rfc3339(netready_plane::db::now_ms() - 3_600_000);
        let mut lying = report();
        lying["checked_at"] = json!(recent);
        lying["status"] = json!("ready"); // while logs is at reachability none
        let mut ancient = report();
        ancient["checked_at"] = json!("2020-01-01T00:00:00.000Z");
        for (body, says) in [(lying, "status"), (ancient, "older than")] {
            let ans = call(&router, post_report(&id, Some(&token), body.to_string())).await;
            assert_eq!(ans.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", ans.text);
            assert!(ans.json()["message"].as_str().unwrap().contains(says), "{}", ans.text);
        }
        assert_eq!(store.count_reports(&id).await.unwrap(), 0);
        // The same instant spelled two ways is one report.
        let mut r = report();
        r["checked_at"] =
            json!(netready_plane::api::runners::rfc3339(netready_plane::db::now_ms() / 1000 * 1000 - 60_000));
        let first = call(&router, post_report(&id, Some(&token), r.to_string())).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
        let same = r["checked_at"].as_str().unwrap().replace(".000Z", ".0000Z");
        r["checked_at"] = json!(same);
        let again = call(&router, post_report(&id, Some(&token), r.to_string())).await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.text);
        assert_eq!(again.json()["duplicate"], true);
    }
);

both_backends!(an_old_report_does_not_keep_a_runner_fresh, |store: netready_plane::Store| async move {
    let (id, token) = add_runner(&store, "r").await.unwrap();
    let router = router(&store);
    let now = netready_plane::db::now_ms();
    let mut r = report();
    r["checked_at"] = json!(netready_plane::api::runners::rfc3339(now - 3_600_000));
    call(&router, post_report(&id, Some(&token), r.to_string())).await;
    let before = store.runner_with_report(&id).await.unwrap().unwrap().0.state.unwrap().last_received_at;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // A backfilled report, older than the newest: history only, the runner's freshness stays.
    r["checked_at"] = json!(netready_plane::api::runners::rfc3339(now - 7_200_000));
    assert_eq!(call(&router, post_report(&id, Some(&token), r.to_string())).await.status, StatusCode::CREATED);
    let after = store.runner_with_report(&id).await.unwrap().unwrap().0.state.unwrap().last_received_at;
    assert_eq!(before, after, "a backfill must not refresh last_received_at");
});

fn login_request(token: &str, forwarded_https: bool) -> Request<Body> {
    let mut req = Request::post("/login").header("content-type", "application/x-www-form-urlencoded");
    if forwarded_https {
        req = req.header("x-forwarded-proto", "https");
    }
    req.body(Body::from(format!("token={token}"))).unwrap()
}

fn with_cookie(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path).header("cookie", cookie).body(Body::empty()).unwrap()
}

both_backends!(sessions_are_random_end_at_logout_and_expire, |store: netready_plane::Store| async move {
    let router = router(&store);
    let login = |https| {
        let router = router.clone();
        async move {
            let ans = call(&router, login_request(ADMIN, https)).await;
            assert_eq!(ans.status, StatusCode::SEE_OTHER, "{}", ans.text);
            ans.headers["set-cookie"].to_str().unwrap().to_owned()
        }
    };
    let (first, second) = (login(false).await, login(true).await);
    assert_ne!(first, second, "every login gets its own session");
    assert!(first.contains("HttpOnly") && first.contains("SameSite=Strict") && !first.contains("Secure"), "{first}");
    assert!(second.contains("; Secure"), "behind an HTTPS load balancer the cookie is Secure: {second}");
    let cookie = first.split(';').next().unwrap().to_owned();
    assert_eq!(call(&router, with_cookie("/api/v1/runners", &cookie)).await.status, StatusCode::OK);
    // Logging out ends this session on the server, not only in the browser.
    let out = Request::post("/logout").header("cookie", &cookie).body(Body::empty()).unwrap();
    assert_eq!(call(&router, out).await.status, StatusCode::SEE_OTHER);
    assert_eq!(call(&router, with_cookie("/api/v1/runners", &cookie)).await.status, StatusCode::UNAUTHORIZED);
    let page = call(&router, with_cookie("/dashboard", &cookie)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "back to the login page");
    // The other session lives on; an expired one does not.
    let other = second.split(';').next().unwrap().to_owned();
    assert_eq!(call(&router, with_cookie("/api/v1/runners", &other)).await.status, StatusCode::OK);
    let now = netready_plane::db::now_ms();
    store.create_session(&netready_plane::auth::token_hash("expired"), now - 10_000, now - 1).await.unwrap();
    let expired = format!("{}=expired", netready_plane::api::SESSION_COOKIE);
    assert_eq!(call(&router, with_cookie("/api/v1/runners", &expired)).await.status, StatusCode::UNAUTHORIZED);
    store.create_session(&netready_plane::auth::token_hash("idle"), now - 3_600_000, now + 3_600_000).await.unwrap();
    let idle = format!("{}=idle", netready_plane::api::SESSION_COOKIE);
    assert_eq!(call(&router, with_cookie("/api/v1/runners", &idle)).await.status, StatusCode::UNAUTHORIZED);
    // A cookie made from the admin token, as the old fixed session value was, is nothing.
    let forged = format!("{}={}", netready_plane::api::SESSION_COOKIE, netready_plane::auth::token_hash(ADMIN));
    assert_eq!(call(&router, with_cookie("/api/v1/runners", &forged)).await.status, StatusCode::UNAUTHORIZED);
});

both_backends!(logins_are_throttled_and_pages_carry_security_headers, |store: netready_plane::Store| async move {
    let router = router(&store);
    for _ in 0..5 {
        assert_eq!(call(&router, login_request("wrong-guess", false)).await.status, StatusCode::UNAUTHORIZED);
    }
    let blocked = call(&router, login_request(ADMIN, false)).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS, "even the right token waits: {}", blocked.text);
    let wait: u64 = blocked.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
    for path in ["/login", "/dashboard", "/api/v1/openapi.json", "/api/v1/runners"] {
        let ans = call(&router, Request::get(path).body(Body::empty()).unwrap()).await;
        let csp = ans.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"), "{path}: {csp}");
        assert_eq!(ans.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(ans.headers["referrer-policy"], "no-referrer", "{path}");
    }
});

both_backends!(readiness_and_metrics_say_what_the_plane_knows, |store: netready_plane::Store| async move {
    let (id, token) = add_runner(&store, "r").await.unwrap();
    let router = router(&store);
    let ready = call(&router, Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(ready.json(), json!({"database": "ok", "writer": "ok"}));
    assert_eq!(call(&router, post_report(&id, Some(&token), report().to_string())).await.status, StatusCode::CREATED);
    assert_eq!(call(&router, post_report(&id, Some(&token), report().to_string())).await.status, StatusCode::OK);
    let mut bad = report();
    bad["status"] = json!("sideways");
    assert_eq!(
        call(&router, post_report(&id, Some(&token), bad.to_string())).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // A revoked runner that has never reported: counted apart, not as unknown (nor, later, stale).
    let (gone, _) = add_runner(&store, "gone").await.unwrap();
    let revoke = Request::post(format!("/api/v1/runners/{gone}/revoke"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&router, revoke).await.status, StatusCode::OK);
    let m = call(&router, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert_eq!(m.status, StatusCode::OK);
    assert!(m.headers["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    for line in [
        "netready_plane_runners{readiness=\"degraded\"} 1",
        "netready_plane_runners{readiness=\"unknown\"} 0",
        "netready_plane_runners{readiness=\"revoked\"} 1",
        "netready_plane_reports_accepted_total{result=\"created\"} 1",
        "netready_plane_reports_accepted_total{result=\"duplicate\"} 1",
        "netready_plane_reports_rejected_total{reason=\"invalid_report\"} 1",
        "netready_plane_commit_batch_reports_count 2",
        "# TYPE netready_plane_commit_seconds histogram",
    ] {
        assert!(m.text.lines().any(|l| l == line), "no '{line}' in:\n{}", m.text);
    }
    // A database that does not answer makes the replica unready (and /healthz stays up).
    store.close().await;
    let unready = call(&router, Request::get("/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(unready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(unready.json()["database"], "unavailable");
    assert_eq!(call(&router, Request::get("/healthz").body(Body::empty()).unwrap()).await.status, StatusCode::OK);
});

both_backends!(a_runner_over_its_rate_is_told_when_to_come_back, |store: netready_plane::Store| async move {
    let (id, token) = add_runner(&store, "chatty").await.unwrap();
    let (other, other_token) = add_runner(&store, "quiet").await.unwrap();
    let router = router_as_served(&store);
    let now = netready_plane::db::now_ms();
    let body = |i: i64| {
        let mut r = report();
        r["checked_at"] = json!(netready_plane::api::runners::rfc3339(now - 600_000 + i * 1000));
        r.to_string()
    };
    let burst = netready_plane::limits::RATE_BURST as i64;
    for i in 0..burst {
        assert_eq!(call(&router, post_report(&id, Some(&token), body(i))).await.status, StatusCode::CREATED, "{i}");
    }
    let over = call(&router, post_report(&id, Some(&token), body(burst))).await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS, "{}", over.text);
    assert_eq!(over.json()["error"], "rate_limited");
    let wait: u64 = over.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(wait, 1, "one report a second after the burst");
    assert_eq!(store.count_reports(&id).await.unwrap(), burst, "nothing stored over the rate");
    // Other runners are not slowed down by one that floods.
    assert_eq!(call(&router, post_report(&other, Some(&other_token), body(0))).await.status, StatusCode::CREATED);
});

both_backends!(runners_are_managed_through_the_api, |store: netready_plane::Store| async move {
    let router = router(&store);
    // Register: the token is in this answer only.
    let made = call(&router, admin_json("POST", "/api/v1/runners", json!({"name": "eu-west-3/build-fleet"}))).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let (id, token) =
        (made.json()["id"].as_str().unwrap().to_owned(), made.json()["token"].as_str().unwrap().to_owned());
    assert!(id.starts_with("rn-") && token.starts_with("nrt_"));
    assert_eq!(call(&router, post_report(&id, Some(&token), report().to_string())).await.status, StatusCode::CREATED);
    // Rename.
    let renamed =
        call(&router, admin_json("PATCH", &format!("/api/v1/runners/{id}"), json!({"name": "eu-west-3/renamed"})))
            .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(renamed.json()["name"], "eu-west-3/renamed");
    assert_eq!(renamed.json()["readiness"], "degraded", "the state stays");
    // Rotate: the old token stops working, the new one works.
    let rotated = call(&router, admin_json("POST", &format!("/api/v1/runners/{id}/token"), json!({}))).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let new_token = rotated.json()["token"].as_str().unwrap().to_owned();
    assert_ne!(new_token, token);
    let mut r = report();
    r["checked_at"] = json!("2026-11-26T14:00:00.000Z");
    assert_eq!(call(&router, post_report(&id, Some(&token), r.to_string())).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&router, post_report(&id, Some(&new_token), r.to_string())).await.status, StatusCode::CREATED);
    // Revoke.
    let revoked = call(&router, admin_json("POST", &format!("/api/v1/runners/{id}/revoke"), json!({}))).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    assert_eq!(revoked.json()["revoked"], true);
    r["checked_at"] = json!("2026-11-26T14:05:00.000Z");
    assert_eq!(call(&router, post_report(&id, Some(&new_token), r.to_string())).await.status, StatusCode::UNAUTHORIZED);
    // Delete: the runner and its history are gone.
    let gone = call(
        &router,
        Request::delete(format!("/api/v1/runners/{id}"))
            .header("authorization", format!("Bearer {ADMIN}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    assert_eq!(call(&router, admin_get(&format!("/api/v1/runners/{id}"))).await.status, StatusCode::NOT_FOUND);
    assert_eq!(store.count_reports(&id).await.unwrap(), 0);
    // Bad input and no admin token.
    for (method, path, body, status) in [
        ("POST", "/api/v1/runners".to_owned(), json!({"name": ""}), StatusCode::UNPROCESSABLE_ENTITY),
        ("POST", "/api/v1/runners".to_owned(), json!({"nom": "x"}), StatusCode::UNPROCESSABLE_ENTITY),
        ("PATCH", "/api/v1/runners/rn-nope".to_owned(), json!({"name": "x"}), StatusCode::NOT_FOUND),
        ("POST", "/api/v1/runners/rn-nope/token".to_owned(), json!({}), StatusCode::NOT_FOUND),
    ] {
        let ans = call(&router, admin_json(method, &path, body)).await;
        assert_eq!(ans.status, status, "{method} {path}: {}", ans.text);
        assert!(ans.json()["error"].is_string(), "{}", ans.text);
    }
    let anonymous = Request::post("/api/v1/runners")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"name":"x"}"#))
        .unwrap();
    assert_eq!(call(&router, anonymous).await.status, StatusCode::UNAUTHORIZED);
});

both_backends!(history_is_compact_when_nothing_changes, |store: netready_plane::Store| async move {
    let (id, token) = add_runner(&store, "steady").await.unwrap();
    let router = router(&store);
    let post = |i: u32, r: Value| {
        let (router, id, token) = (router.clone(), id.clone(), token.clone());
        async move {
            let mut r = r;
            r["checked_at"] = json!(format!("2026-11-26T10:{:02}:00.000Z", i));
            r["duration_ms"] = json!(2000 + i); // timings vary from check to check
            r["endpoints"][0]["connections"][0]["tcp"]["duration_ms"] = json!(i % 3);
            assert_eq!(call(&router, post_report(&id, Some(&token), r.to_string())).await.status, StatusCode::CREATED);
        }
    };
    // Ten checks of the same network: history keeps the first one's body (the newest one's is
    // kept apart, as the runner's latest report).
    for i in 1..11 {
        post(i, report()).await;
    }
    assert_eq!(store.count_reports(&id).await.unwrap(), 10);
    assert_eq!(store.count_bodies(&id).await.unwrap(), 1, "the first of the run");
    // The network changes: the new report starts a run, whose first body history keeps.
    post(11, with_status(report(), "ready")).await;
    post(12, with_status(report(), "ready")).await;
    post(13, with_status(report(), "ready")).await;
    assert_eq!(store.count_bodies(&id).await.unwrap(), 2, "two runs, two starts");
    // A late report (older than the newest) is history only, kept whole; the newest stays.
    post(0, report()).await;
    assert_eq!(store.count_bodies(&id).await.unwrap(), 3, "the late report is kept whole");
    // The newest report is served whole, the history as compact rows.
    let one = call(&router, admin_get(&format!("/api/v1/runners/{id}"))).await.json();
    assert_eq!(one["report"]["checked_at"], "2026-11-26T10:13:00.000Z");
    assert_eq!(one["report"]["status"], "ready");
    assert_eq!(one["report"]["endpoints"].as_array().unwrap().len(), 5);
    let history = call(&router, admin_get(&format!("/api/v1/runners/{id}/history"))).await.json();
    let reports = history["reports"].as_array().unwrap();
    let summaries: Vec<&str> = reports.iter().map(|r| r["summary"].as_str().unwrap()).collect();
    assert_eq!(summaries.len(), 14);
    assert_eq!(reports[0]["checked_at"], "2026-11-26T10:13:00.000Z", "the canonical spelling, from the key");
    assert_eq!(reports[13]["checked_at"], "2026-11-26T10:00:00.000Z");
    assert!(summaries[0].starts_with("fv") && summaries[0].contains(",fv"), "{summaries:?}");
    assert!(summaries[13].contains(",nv"), "the oldest had logs at none: {summaries:?}");
});

/// Every `(method, path)` the API modules route, read from their source (axum cannot list a
/// router's routes): each `.route("/api/v1/…", get(…).post(…))` in `src/api/*.rs`.
fn api_routes() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut routes = Vec::new();
    for file in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".route(\"") {
            rest = &rest[at + 8..];
            let path = &rest[..rest.find('"').unwrap()];
            // The route call's text, to its closing parenthesis.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .unwrap()
                .0;
            let call = &rest[path.len()..end];
            for method in ["get", "post", "put", "patch", "delete"] {
                let token = format!("{method}(");
                let found = call.match_indices(&token).any(|(i, _)| {
                    i == 0 || !call.as_bytes()[i - 1].is_ascii_alphanumeric() && call.as_bytes()[i - 1] != b'_'
                });
                if found {
                    routes.push((method.to_uppercase(), path.to_owned()));
                }
            }
        }
    }
    routes.sort();
    routes
}

/// The only `/api/v1` routes that answer without a credential (documented so in the OpenAPI
/// document: `security: []`).
const PUBLIC: [(&str, &str); 1] = [("GET", "/api/v1/openapi.json")];

both_backends!(every_api_route_authenticates_before_it_reads_the_body, |store: netready_plane::Store| async move {
    let router = router(&store);
    let routes = api_routes();
    assert!(routes.len() >= 15, "the route walk found too little to be believed: {routes:?}");
    assert!(routes.contains(&("POST".into(), "/api/v1/alerts/channels".into())), "{routes:?}");
    let openapi: Value = serde_json::from_str(netready_plane::api::OPENAPI).unwrap();
    for (method, path) in &routes {
        // Every routed path is documented, and its security is what the document says.
        let op = &openapi["paths"][path.as_str()][method.to_lowercase()];
        assert!(op.is_object(), "{method} {path} is routed but not in the OpenAPI document");
        let public = PUBLIC.contains(&(method.as_str(), path.as_str()));
        assert_eq!(op["security"] == json!([]), public, "{method} {path}: the document's security");
        if public {
            continue;
        }
        // No credential, a body that is neither JSON nor of the right type, a path that names
        // nothing: the answer is 401 all the same, and says nothing about the body.
        let uri = path.replace("{id}", "rn-000000000000");
        let req = Request::builder()
            .method(method.as_str())
            .uri(&uri)
            .header("content-type", "text/plain")
            .body(Body::from("{\"name\": "))
            .unwrap();
        let a = call(&router, req).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{method} {path}: {}", a.text);
        assert_eq!(a.json()["error"], "unauthorized", "{method} {path}");
        // And a wrong token likewise.
        let req = Request::builder()
            .method(method.as_str())
            .uri(&uri)
            .header("authorization", "Bearer not-the-admin-token")
            .header("content-type", "application/json")
            .body(Body::from("[]"))
            .unwrap();
        assert_eq!(call(&router, req).await.status, StatusCode::UNAUTHORIZED, "{method} {path} with a wrong token");
    }
    // Nothing was stored by any of them.
    assert!(store.alert_channels().await.unwrap().is_empty());
    assert!(store.runners().await.unwrap().is_empty());
});
