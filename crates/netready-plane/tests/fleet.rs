//! The fleet view, badges and the runner list's additions, against real databases (a SQLite file
//! and PostgreSQL): degraded runners seeded through the real ingest API with reports that differ
//! in subnet, zone and failing phase; the grouping and counts the database computes.

#![allow(clippy::unwrap_used)]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use netready_plane::add_runner;
use serde_json::{Value, json};
use support::*;

/// A report at `at` (seconds after the fixture's time) from a task in `cidr`/`az`.
fn placed(mut r: Value, cidr: &str, az: &str, at: u64) -> Value {
    r["task"]["subnet_cidr"] = json!(cidr);
    r["task"]["availability_zone"] = json!(az);
    r["checked_at"] = json!(format!("2026-11-26T14:{:02}:{:02}.000Z", at / 60, at % 60));
    r
}

/// The logs endpoint's TLS handshake reset (TCP connects): a firewall filtering by server name.
fn tls_reset(mut r: Value) -> Value {
    r["endpoints"][1]["connections"][0]["tcp"] = json!({"outcome": "ok", "duration_ms": 1, "budget_ms": 1999});
    r["endpoints"][1]["connections"][0]["tls"] = json!({"outcome": "reset", "error": "connection reset by peer",
        "duration_ms": 2, "budget_ms": 1998, "version": null, "certificate": null});
    r["endpoints"][1]["hints"] =
        json!(["TCP connects but the TLS handshake is reset: a firewall filtering by server name"]);
    r
}

async fn seed(store: &netready_plane::Store, router: &axum::Router, name: &str, report: &Value) -> String {
    let (id, token) = add_runner(store, name).await.unwrap();
    let a = call(router, post_report(&id, Some(&token), report.to_string())).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    id.to_string()
}

fn get_fleet(query: &str) -> Request<Body> {
    admin_get(&format!("/api/v1/fleet{query}"))
}

both_backends!(the_fleet_groups_degraded_runners_by_what_they_share, |store: netready_plane::Store| async move {
    let router = router(&store);
    // Three version 2 runners in 10.0.3.0/24 (eu-west-3b) whose logs connections time out, and a
    // version 3 runner there too (the AWS API read its VPC and found the cause).
    for i in 0..3 {
        seed(&store, &router, &format!("b-{i}"), &placed(report(), "10.0.3.0/24", "eu-west-3b", i)).await;
    }
    seed(&store, &router, "b-v3", &placed(report_v3(), "10.0.3.0/24", "eu-west-3b", 9)).await;
    // Two in 10.0.1.0/24 (eu-west-3a) whose logs handshakes are reset.
    for i in 0..2 {
        seed(&store, &router, &format!("a-{i}"), &placed(tls_reset(report()), "10.0.1.0/24", "eu-west-3a", i)).await;
    }
    // One ready runner, and one that never reported.
    seed(&store, &router, "ok", &placed(with_status(report(), "ready"), "10.0.1.0/24", "eu-west-3a", 0)).await;
    add_runner(&store, "silent").await.unwrap();

    let a = call(&router, get_fleet("")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let f = a.json();
    assert_eq!(f["runners"], json!({"total": 8, "never_reported": 1, "stale": 0, "degraded": 6}));
    let services: Vec<&str> =
        f["services"].as_array().unwrap().iter().map(|s| s["service"].as_str().unwrap()).collect();
    assert_eq!(services, ["secretsmanager", "logs", "ecr_api", "ecr_dkr", "s3"], "in the reports' order");
    let logs = &f["services"][1];
    assert_eq!((logs["region"].as_str(), logs["runners"].as_i64()), (Some("eu-west-3"), Some(7)));
    assert_eq!((logs["full"].as_i64(), logs["partial"].as_i64(), logs["none"].as_i64()), (Some(1), Some(0), Some(6)));
    assert_eq!(
        logs["by_access_type"],
        json!([{"access_type": "vpc_endpoint", "runners": 7, "full": 1, "partial": 0, "none": 6}])
    );
    // S3: six through NAT (version 2 cannot tell a gateway endpoint), one through its gateway endpoint.
    let s3 = &f["services"][4]["by_access_type"];
    assert_eq!(s3[0]["access_type"], "nat_gateway");
    assert_eq!((s3[0]["full"].as_i64(), s3[1]["access_type"].as_str()), (Some(6), Some("gateway_endpoint")));

    let causes = f["causes"].as_array().unwrap();
    assert_eq!(causes.len(), 2, "{causes:#?}");
    let first = &causes[0];
    assert_eq!(first["summary"], "logs unreachable on 4 runners, all in 10.0.3.0/24 (eu-west-3b), TCP timeout");
    assert_eq!((first["phase"].as_str(), first["outcome"].as_str()), (Some("tcp"), Some("timeout")));
    assert_eq!(first["account_id"], "111122223333");
    assert_eq!(first["vpc_id"], Value::Null, "only one of the four reports names its VPC");
    assert_eq!(first["spread"], json!({"subnets": 1, "availability_zones": 1, "vpcs": 1, "accounts": 1}));
    assert!(first["hint"].as_str().unwrap().contains("security group"), "{}", first["hint"]);
    assert_eq!(first["finding"], "vpc_endpoint.ingress_denied");
    let groups: Vec<(i64, Value)> = first["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["runners"].as_i64().unwrap(), g["vpc_id"].clone()))
        .collect();
    assert_eq!(groups, [(3, Value::Null), (1, json!("vpc-0a1b2c3d4e5f6a7b8"))]);
    let second = &causes[1];
    assert_eq!(second["summary"], "logs unreachable on 2 runners, all in 10.0.1.0/24 (eu-west-3a), TLS reset");
    assert!(second["hint"].as_str().unwrap().contains("filtering by server name"));

    // Filters: a service, a region; limits.
    let f = call(&router, get_fleet("?service=s3")).await.json();
    assert_eq!((f["services"].as_array().unwrap().len(), f["causes"].as_array().unwrap().len()), (1, 0));
    let f = call(&router, get_fleet("?region=us-east-1")).await.json();
    assert_eq!(f["services"], json!([]));
    let f = call(&router, get_fleet("?limit=1")).await.json();
    assert_eq!(f["causes"].as_array().unwrap().len(), 1);

    // A runner that recovers leaves its cause; a deleted runner leaves the counts.
    let b0 =
        call(&router, admin_get("/api/v1/runners?q=b-0")).await.json()["runners"][0]["id"].as_str().unwrap().to_owned();
    let a0 =
        call(&router, admin_get("/api/v1/runners?q=a-0")).await.json()["runners"][0]["id"].as_str().unwrap().to_owned();
    let (_, token) = {
        let r = call(&router, admin_json_post(&format!("/api/v1/runners/{b0}/token"))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        (b0.clone(), r.json()["token"].as_str().unwrap().to_owned())
    };
    let recovered = placed(with_status(report(), "ready"), "10.0.3.0/24", "eu-west-3b", 30);
    assert_eq!(call(&router, post_report(&b0, Some(&token), recovered.to_string())).await.status, StatusCode::CREATED);
    let d = call(
        &router,
        Request::delete(format!("/api/v1/runners/{a0}"))
            .header("authorization", format!("Bearer {ADMIN}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(d.status.is_success(), "{}", d.text);
    let f = call(&router, get_fleet("")).await.json();
    assert_eq!(f["services"][1]["runners"], 6);
    assert_eq!(
        f["causes"][0]["summary"],
        "logs unreachable on 3 runners, all in 10.0.3.0/24 (eu-west-3b), TCP timeout"
    );
    assert_eq!(f["causes"][1]["summary"], "logs unreachable on 1 runner, in 10.0.1.0/24 (eu-west-3a), TLS reset");
});

fn admin_json_post(path: &str) -> Request<Body> {
    Request::post(path)
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap()
}

both_backends!(stale_runners_count_only_when_asked, |store: netready_plane::Store| async move {
    let router = netready_plane::app(netready_plane::AppState {
        max_age_ms: i64::MAX / 4,
        ..netready_plane::AppState::new(store.clone(), ADMIN, std::time::Duration::from_millis(1))
    });
    seed(&store, &router, "soon-stale", &placed(report(), "10.0.3.0/24", "eu-west-3b", 0)).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let f = call(&router, get_fleet("")).await.json();
    assert_eq!((f["runners"]["stale"].as_i64(), f["include_stale"].as_bool()), (Some(1), Some(false)));
    assert_eq!((f["services"].as_array().unwrap().len(), f["causes"].as_array().unwrap().len()), (0, 0));
    let f = call(&router, get_fleet("?include_stale=true")).await.json();
    assert_eq!((f["services"].as_array().unwrap().len(), f["causes"].as_array().unwrap().len()), (5, 1));
});

both_backends!(a_steady_network_does_not_rewrite_fleet_rows, |store: netready_plane::Store| async move {
    let router = router(&store);
    let (id, token) = add_runner(&store, "steady").await.unwrap();
    let post = |at: &str, r: Value| {
        let (router, id, token) = (router.clone(), id.clone(), token.clone());
        let mut r = r;
        r["checked_at"] = json!(at);
        async move {
            let a = call(&router, post_report(&id, Some(&token), r.to_string())).await;
            assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
        }
    };
    let degraded = placed(report(), "10.0.3.0/24", "eu-west-3b", 0);
    post("2026-11-26T10:00:00.000Z", degraded.clone()).await;
    let first = store.fleet_rows_written(&id).await.unwrap();
    assert_eq!(first.len(), 5);
    // The same network, later, with other timings: the rows stay as they were.
    let mut later = degraded.clone();
    later["duration_ms"] = json!(1234);
    post("2026-11-26T10:05:00.000Z", later).await;
    assert_eq!(store.fleet_rows_written(&id).await.unwrap(), first);
    // The network changes: the rows follow.
    post("2026-11-26T10:10:00.000Z", with_status(report(), "ready")).await;
    assert!(store.fleet_rows_written(&id).await.unwrap().iter().all(|t| *t > first[0]));
    let f = call(&router, get_fleet("?include_stale=true")).await.json();
    assert_eq!(f["causes"].as_array().unwrap().len(), 0, "{f}");
});

both_backends!(the_fleet_is_guarded_and_refuses_bad_parameters, |store: netready_plane::Store| async move {
    let router = router(&store);
    let a = call(&router, Request::get("/api/v1/fleet").body(Body::empty()).unwrap()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    for (query, word) in [
        ("?service=lambda", "service"),
        ("?region=EU%20WEST", "region"),
        ("?include_stale=yes", "include_stale"),
        ("?limit=0", "limit"),
        ("?limit=abc", "limit"),
    ] {
        let a = call(&router, get_fleet(query)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(a.json()["error"], "bad_request");
        assert!(a.json()["message"].as_str().unwrap().contains(word), "{query}: {}", a.text);
    }
});

both_backends!(badges_are_svg_guarded_and_cacheable, |store: netready_plane::Store| async move {
    let router = router(&store);
    let id = seed(&store, &router, "badge <runner>", &placed(report(), "10.0.3.0/24", "eu-west-3b", 0)).await;
    let path = format!("/api/v1/runners/{id}/badge.svg");
    let a = call(&router, admin_get(&path)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.headers["content-type"], "image/svg+xml; charset=utf-8");
    assert_eq!(a.headers["cache-control"], "private, max-age=60");
    assert!(a.text.starts_with("<svg") && a.text.contains("badge &lt;runner&gt;: degraded"), "{}", a.text);
    // Unchanged: 304 without a body.
    let etag = a.headers["etag"].to_str().unwrap().to_owned();
    let again = Request::get(&path)
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("if-none-match", &etag)
        .body(Body::empty())
        .unwrap();
    let b = call(&router, again).await;
    assert_eq!((b.status, b.text.as_str()), (StatusCode::NOT_MODIFIED, ""));
    // Without the admin token: the badge token of this runner only.
    let anonymous = |p: &str| Request::get(p).body(Body::empty()).unwrap();
    assert_eq!(call(&router, anonymous(&path)).await.status, StatusCode::UNAUTHORIZED);
    let token = netready_plane::api::badges::badge_token(ADMIN, &id);
    let a = call(&router, anonymous(&format!("{path}?token={token}"))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let fleet_token = netready_plane::api::badges::badge_token(ADMIN, "fleet");
    assert_eq!(call(&router, anonymous(&format!("{path}?token={fleet_token}"))).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        call(&router, anonymous(&format!("/api/v1/fleet/badge.svg?token={token}"))).await.status,
        StatusCode::UNAUTHORIZED,
        "a runner's badge token does not read the fleet's"
    );
    let f = call(&router, anonymous(&format!("/api/v1/fleet/badge.svg?token={fleet_token}"))).await;
    assert_eq!(f.status, StatusCode::OK);
    assert!(f.text.contains("netready fleet: 1 of 1 degraded"), "{}", f.text);
    // A revoked runner, even degraded, is not part of the fleet's badge.
    let gone = seed(&store, &router, "retired", &placed(report(), "10.0.3.0/24", "eu-west-3b", 1)).await;
    let revoke = Request::post(format!("/api/v1/runners/{gone}/revoke"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&router, revoke).await.status, StatusCode::OK);
    let f = call(&router, anonymous(&format!("/api/v1/fleet/badge.svg?token={fleet_token}"))).await;
    assert!(f.text.contains("netready fleet: 1 of 1 degraded"), "{}", f.text);
    let missing = call(&router, admin_get("/api/v1/runners/rn-000000000000/badge.svg")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["error"], "not_found");
});

both_backends!(the_pages_show_causes_pills_relative_times_and_uptime, |store: netready_plane::Store| async move {
    let router = router(&store);
    let now = std::time::SystemTime::now();
    let at = |ago_s: u64| humantime::format_rfc3339_millis(now - std::time::Duration::from_secs(ago_s)).to_string();
    let (id, token) = add_runner(&store, "uptime-runner").await.unwrap();
    // Three checks in the last day (two ready), one more a few days ago (ready): 66.6 % and 75 %.
    for (ago_s, status) in [(3 * 86_400, "ready"), (3 * 3600, "ready"), (2 * 3600, "degraded"), (180, "ready")] {
        let mut r = with_status(placed(report(), "10.0.3.0/24", "eu-west-3b", 0), status);
        r["checked_at"] = json!(at(ago_s));
        let a = call(&router, post_report(&id, Some(&token), r.to_string())).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    }
    let mut bad = placed(report(), "10.0.3.0/24", "eu-west-3b", 0);
    bad["checked_at"] = json!(at(60));
    seed(&store, &router, "broken-runner", &bad).await;

    let list = call(&router, admin_get("/dashboard")).await;
    assert_eq!(list.status, StatusCode::OK);
    let row = |name: &str| list.text.split(name).nth(1).unwrap().split("</tr>").next().unwrap().to_owned();
    let ok = row("uptime-runner");
    assert!(ok.contains(">3 min ago</time>"), "{ok}");
    assert!(ok.contains("title=\"2 of 3 checks ready\">66.6 %"), "{ok}");
    assert!(
        ok.contains("title=\"3 of 4 checks ready\">75 %") || ok.contains("title=\"3 of 4 checks ready\">75.0 %"),
        "{ok}"
    );
    let broken = row("broken-runner");
    assert!(broken.contains("class=\"badge none\"") && broken.contains("logs none"), "{broken}");
    assert!(list.text.contains("class=\"legend"), "the timeline has a legend");
    assert!(list.text.contains("href=\"/dashboard/fleet\""), "the list links to the fleet");

    let fleet = call(&router, admin_get("/dashboard/fleet")).await;
    assert_eq!(fleet.status, StatusCode::OK);
    assert!(
        fleet.text.contains("logs unreachable on 1 runner, in 10.0.3.0/24 (eu-west-3b), TCP timeout"),
        "{}",
        fleet.text
    );
    assert!(fleet.text.contains("/api/v1/fleet/badge.svg?token="));
    let bad_query = call(&router, admin_get("/dashboard/fleet?service=lambda")).await;
    assert_eq!(bad_query.status, StatusCode::BAD_REQUEST);
    assert!(bad_query.text.contains("unknown service"));
});

both_backends!(a_malformed_badge_token_is_a_bad_request, |store: netready_plane::Store| async move {
    let router = router(&store);
    for token in ["", "xyz", "0123456789ABCDEF0123456789abcdef"] {
        let a = call(&router, admin_get(&format!("/api/v1/fleet/badge.svg?token={token}"))).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{token:?}: {}", a.text);
        assert_eq!(a.json()["error"], "bad_request");
    }
});
