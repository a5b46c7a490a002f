//! Alerts against real databases and a real webhook receiver on loopback: which changes are
//! announced, what arrives (signed, with its idempotency key), retries until the receiver is up,
//! and several replicas on one database sending each notification once.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use hmac::{Hmac, Mac};
use netready_lab::webhook::{Received, Receiver};
use netready_plane::alerts::deliver::{Sender, Settings, deliver_due};
use netready_plane::alerts::{Policy, channels};
use netready_plane::{Store, add_runner};
use serde_json::{Value, json};
use sha2::Sha256;
use support::*;

/// The i-th check time: seconds apart, an hour ago (inside the plane's window whatever the day).
fn at(i: u64) -> String {
    static BASE: std::sync::OnceLock<std::time::SystemTime> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(|| std::time::SystemTime::now() - Duration::from_secs(3600));
    humantime::format_rfc3339_millis(base + Duration::from_secs(i)).to_string()
}

fn settings() -> Settings {
    Settings {
        lease: Duration::from_secs(30),
        retry_max: Duration::from_secs(1),
        give_up_after: Duration::from_secs(3600),
        poll: Duration::from_millis(100),
        stale_after: Duration::from_secs(600),
        never_reported_after: Duration::from_secs(900),
        group_window: Duration::ZERO,
    }
}

async fn post(router: &axum::Router, id: &str, token: &str, status: &str, i: u64) {
    let mut r = with_status(report(), status);
    r["checked_at"] = json!(at(i));
    let a = call(router, post_report(id, Some(token), r.to_string())).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
}

async fn webhook(router: &axum::Router, url: &str) -> (String, String) {
    let a = call(
        router,
        admin_json("POST", "/api/v1/alerts/channels", json!({"name": "ops", "kind": "webhook", "url": url})),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let v = a.json();
    (v["id"].as_str().unwrap().to_owned(), v["secret"].as_str().unwrap().to_owned())
}

fn admin_json(method: &str, path: &str, body: Value) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap()
}

/// Checks the signature as a receiver would, from the documented rule alone.
fn verify(secret: &str, r: &Received) {
    let ts = r.header("x-netready-timestamp").expect("a timestamp header");
    let sig = r.header("x-netready-signature").expect("a signature header");
    let expected = |body: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{ts}.{body}").as_bytes());
        let bytes = mac.finalize().into_bytes();
        format!("v1={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
    };
    assert_eq!(sig, expected(&r.body), "the signature verifies with the channel's secret");
    assert_ne!(sig, expected(&format!("{} ", r.body)), "and not for another body");
    let age = netready_plane::db::now_ms() / 1000 - ts.parse::<i64>().unwrap();
    assert!((0..60).contains(&age), "the timestamp is now: {ts}");
}

/// Delivers until nothing is due (a few rounds at most).
async fn drain(store: &Store, sender: &Sender) {
    for _ in 0..5 {
        if deliver_due(store, &settings(), sender).await.unwrap() == 0 {
            break;
        }
    }
}

both_backends!(a_confirmed_change_is_delivered_signed_and_a_flap_is_not, |store: Store| async move {
    let receiver = Receiver::start().unwrap();
    let router = router(&store);
    store.set_alert_policy(Policy { after_checks: 2, min_duration_ms: 0, recover_after_checks: None });
    let (channel, secret) = webhook(&router, &receiver.url("/hook")).await;
    let (id, token) = add_runner(&store, "eu-west-3/build").await.unwrap();
    let sender = Sender::new(LOOPBACK).unwrap();

    // First ready: silent. One degraded check between ready ones: a flap, silent.
    for (i, status) in ["ready", "ready", "degraded", "ready", "degraded", "ready"].iter().enumerate() {
        post(&router, &id, &token, status, i as u64).await;
    }
    drain(&store, &sender).await;
    assert!(receiver.received().is_empty(), "nothing announced for a flap: {:?}", receiver.received());

    // Two consecutive degraded checks: announced once.
    post(&router, &id, &token, "degraded", 10).await;
    post(&router, &id, &token, "degraded", 11).await;
    post(&router, &id, &token, "degraded", 12).await;
    drain(&store, &sender).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hook"));
    verify(&secret, r);
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(r.header("idempotency-key"), body["id"].as_str(), "the key is the body's id");
    assert_eq!(body["kind"], "degraded");
    assert_eq!(body["runner"], json!({"id": id.to_string(), "name": "eu-west-3/build"}));
    assert_eq!((body["from"].as_str(), body["to"].as_str()), (Some("ready"), Some("degraded")));
    assert_eq!((body["since"].as_str().unwrap(), body["at"].as_str().unwrap()), (at(10).as_str(), at(11).as_str()));
    assert_eq!(body["degraded_endpoints"][0]["service"], "logs");

    // Recovery after two ready checks.
    post(&router, &id, &token, "ready", 13).await;
    drain(&store, &sender).await;
    assert_eq!(receiver.received().len(), 1, "one ready check is not a recovery yet");
    post(&router, &id, &token, "ready", 14).await;
    drain(&store, &sender).await;
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    let body: Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(
        (body["kind"].as_str(), body["from"].as_str(), body["to"].as_str()),
        (Some("recovered"), Some("degraded"), Some("ready"))
    );
    verify(&secret, &got[1]);

    // The delivery state, through the API, the metrics and the dashboard.
    let n = call(&router, admin_get("/api/v1/alerts/notifications")).await.json();
    let states: Vec<&str> =
        n["notifications"].as_array().unwrap().iter().map(|x| x["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["delivered", "delivered"]);
    assert_eq!(n["notifications"][0]["channel_id"], channel.as_str());
    let metrics = call(&router, admin_get("/metrics")).await.text;
    assert!(metrics.contains("netready_plane_alert_notifications{state=\"delivered\"} 2"), "{metrics}");
    assert!(metrics.contains("netready_plane_alert_attempts_total{result=\"delivered\"} 2"), "{metrics}");
    let page = call(&router, admin_get("/dashboard/alerts")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("2 delivered") && page.text.contains(&id.to_string()), "{}", page.text);
    assert!(!page.text.contains(&secret), "the secret is never shown again");
});

both_backends!(a_receiver_that_is_down_gets_the_notification_once_it_is_up, |store: Store| async move {
    let receiver = Receiver::start().unwrap();
    receiver.answer(503);
    let router = router(&store);
    store.set_alert_policy(Policy { after_checks: 1, min_duration_ms: 0, recover_after_checks: None });
    let (_, secret) = webhook(&router, &receiver.url("/hook")).await;
    let (id, token) = add_runner(&store, "flaky-receiver").await.unwrap();
    let sender = Sender::new(LOOPBACK).unwrap();
    post(&router, &id, &token, "degraded", 0).await;

    assert_eq!(deliver_due(&store, &settings(), &sender).await.unwrap(), 1);
    assert_eq!(deliver_due(&store, &settings(), &sender).await.unwrap(), 0, "not due again before its backoff");
    let n = call(&router, admin_get("/api/v1/alerts/notifications")).await.json();
    assert_eq!(n["notifications"][0]["state"], "failing");
    assert_eq!(n["notifications"][0]["last_error"], "the receiver answered 503");
    let metrics = call(&router, admin_get("/metrics")).await.text;
    assert!(metrics.contains("netready_plane_alert_notifications{state=\"failing\"} 1"), "{metrics}");

    receiver.answer(200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(deliver_due(&store, &settings(), &sender).await.unwrap(), 1);
    let got = receiver.received();
    assert_eq!(got.len(), 2, "one failed attempt, one delivered");
    assert_eq!(got[0].header("idempotency-key"), got[1].header("idempotency-key"), "a retry keeps its key");
    verify(&secret, &got[1]);
    let n = call(&router, admin_get("/api/v1/alerts/notifications")).await.json();
    assert_eq!(
        (n["notifications"][0]["state"].as_str(), n["notifications"][0]["attempts"].as_i64()),
        (Some("delivered"), Some(2))
    );
});

both_backends!(
    a_notification_undelivered_for_too_long_is_given_up_and_the_next_one_goes_out,
    |store: Store| async move {
        let receiver = Receiver::start().unwrap();
        receiver.answer(500);
        let router = router(&store);
        store.set_alert_policy(Policy { after_checks: 1, min_duration_ms: 0, recover_after_checks: None });
        webhook(&router, &receiver.url("/hook")).await;
        let (id, token) = add_runner(&store, "receiver-gone").await.unwrap();
        post(&router, &id, &token, "degraded", 0).await;
        let hour = 3_600_000;

        // Held by a worker (its lease runs): not given up under it, even when overdue.
        let now = netready_plane::db::now_ms();
        let claimed = store.claim_alerts(now, 60_000, 16).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(
            store.expire_alerts(now + 1, now + hour, 100).await.unwrap().is_empty(),
            "a claimed notification is left to its worker"
        );
        store.alert_failed(&claimed[0], now, "the receiver answered 500").await.unwrap();
        // Failing, but not overdue: kept.
        assert!(store.expire_alerts(now + 1, now - hour, 100).await.unwrap().is_empty(), "not overdue yet");
        tokio::time::sleep(Duration::from_millis(10)).await;
        let cutoff = netready_plane::db::now_ms();
        tokio::time::sleep(Duration::from_millis(10)).await;

        // The runner recovers: that notification waits behind the failing one, which fails again.
        post(&router, &id, &token, "ready", 1).await;
        let sender = Sender::new(LOOPBACK).unwrap();
        let retry_later = Settings { retry_max: Duration::from_secs(3600), ..settings() };
        assert_eq!(
            deliver_due(&store, &retry_later, &sender).await.unwrap(),
            1,
            "only the oldest of a runner's is sent"
        );
        receiver.answer(200);
        assert_eq!(deliver_due(&store, &retry_later, &sender).await.unwrap(), 0, "the newer one waits behind it");

        // The degraded one is overdue (written before the cutoff), the recovery is not: the first is
        // given up, once, with what it went through.
        let now = netready_plane::db::now_ms();
        assert!(store.expire_alerts(now, cutoff, 0).await.unwrap().is_empty(), "bounded by the limit");
        let expired = store.expire_alerts(now, cutoff, 100).await.unwrap();
        assert_eq!(expired.len(), 1, "{expired:?}");
        assert_eq!(
            (expired[0].kind.as_str(), expired[0].attempts, expired[0].last_error.as_deref()),
            ("degraded", 2, Some("the receiver answered 500"))
        );
        assert!(store.expire_alerts(now, cutoff, 100).await.unwrap().is_empty(), "given up once");
        // Now the recovery goes out, and the expired one never again.
        assert_eq!(deliver_due(&store, &retry_later, &sender).await.unwrap(), 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            deliver_due(&store, &settings(), &sender).await.unwrap(),
            0,
            "an expired notification is not retried"
        );
        let got: Vec<Value> = receiver.received().iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
        let kinds: Vec<&str> = got.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["degraded", "recovered"], "one failed attempt of the degraded one, then the recovery");

        let n = call(&router, admin_get("/api/v1/alerts/notifications")).await.json();
        let states: Vec<(&str, &str)> = n["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["kind"].as_str().unwrap(), x["state"].as_str().unwrap()))
            .collect();
        assert_eq!(states, [("recovered", "delivered"), ("degraded", "expired")]);
        let gone = &n["notifications"][1];
        assert!(gone["expired_at"].is_string() && gone["next_attempt_at"].is_null(), "{gone}");
        let metrics = call(&router, admin_get("/metrics")).await.text;
        for line in
            ["{state=\"expired\"} 1", "{state=\"delivered\"} 1", "{state=\"failing\"} 0", "{state=\"pending\"} 0"]
        {
            assert!(metrics.contains(&format!("netready_plane_alert_notifications{line}")), "{line}: {metrics}");
        }
        let page = call(&router, admin_get("/dashboard/alerts")).await.text;
        assert!(page.contains("data-state=\"expired\"") && page.contains("1 expired"), "{page}");

        // One state at a time, in the API and on the page.
        for (only, want) in [("expired", vec!["degraded"]), ("delivered", vec!["recovered"]), ("pending", vec![])] {
            let n = call(&router, admin_get(&format!("/api/v1/alerts/notifications?state={only}"))).await.json();
            let kinds: Vec<&str> =
                n["notifications"].as_array().unwrap().iter().map(|x| x["kind"].as_str().unwrap()).collect();
            assert_eq!(kinds, want, "{only}: {n}");
        }
        let bad = call(&router, admin_get("/api/v1/alerts/notifications?state=lost")).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(bad.json()["message"].as_str().unwrap().contains("invalid state 'lost'"), "{}", bad.text);
        let page = call(&router, admin_get("/dashboard/alerts?state=expired")).await.text;
        assert!(page.contains("data-state=\"expired\"") && !page.contains("data-state=\"delivered\""), "{page}");
        assert!(page.contains("Notifications: expired") && page.contains("href=\"/dashboard/alerts?state=delivered\""));

        // Pruning takes finished notifications, expired ones included.
        assert_eq!(store.prune_alerts(netready_plane::db::now_ms() + 1).await.unwrap(), 2);
    }
);

both_backends!(a_delivery_that_outlived_its_lease_and_was_given_up_counts_as_delivered, |store: Store| async move {
    let router = router(&store);
    store.set_alert_policy(Policy { after_checks: 1, min_duration_ms: 0, recover_after_checks: None });
    let receiver = Receiver::start().unwrap();
    webhook(&router, &receiver.url("/hook")).await;
    let (id, token) = add_runner(&store, "slow-receiver").await.unwrap();
    post(&router, &id, &token, "degraded", 0).await;
    let now = netready_plane::db::now_ms();
    let claimed = store.claim_alerts(now, 1, 16).await.unwrap();
    assert_eq!(claimed.len(), 1);
    // The lease ran out mid-send, and the notification was overdue: given up meanwhile.
    assert_eq!(store.expire_alerts(now + 5, now + 5, 100).await.unwrap().len(), 1);
    // Then the receiver answers 2xx after all: delivered is what happened.
    store.alert_delivered(&claimed[0].id, now + 6).await.unwrap();
    let n = call(&router, admin_get("/api/v1/alerts/notifications")).await.json();
    let row = &n["notifications"][0];
    assert_eq!((row["state"].as_str(), row["expired_at"].is_null()), (Some("delivered"), true), "{row}");
    let metrics = call(&router, admin_get("/metrics")).await.text;
    assert!(metrics.contains("netready_plane_alert_notifications{state=\"expired\"} 0"), "{metrics}");
});

both_backends!(
    a_test_notification_is_sent_signed_at_once_and_says_what_the_receiver_answered,
    |store: Store| async move {
        let receiver = Receiver::start().unwrap();
        let router = router(&store);
        let (channel, secret) = webhook(&router, &receiver.url("/hook")).await;
        let path = format!("/api/v1/alerts/channels/{channel}/test");

        let a = call(&router, admin_json("POST", &path, json!({}))).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        let sent = a.json();
        assert_eq!((sent["delivered"].as_bool(), sent["status"].as_u64()), (Some(true), Some(200)), "{sent}");
        let got = receiver.received();
        assert_eq!(got.len(), 1);
        verify(&secret, &got[0]);
        let body: Value = serde_json::from_str(&got[0].body).unwrap();
        assert_eq!((body["kind"].as_str(), body["channel"]["id"].as_str()), (Some("test"), Some(channel.as_str())));
        assert_eq!(got[0].header("idempotency-key"), sent["id"].as_str());
        assert!(sent["id"].as_str().unwrap().starts_with("test-"));

        // A receiver that refuses: said so, not retried, nothing stored.
        receiver.answer(500);
        let sent = call(&router, admin_json("POST", &path, json!({}))).await.json();
        assert_eq!(
            (sent["delivered"].as_bool(), sent["error"].as_str()),
            (Some(false), Some("the receiver answered 500"))
        );
        let n = call(&router, admin_get("/api/v1/alerts/notifications")).await.json();
        assert_eq!(n["notifications"], json!([]), "a test notification is not in the outbox");
        assert_eq!(deliver_due(&store, &settings(), &Sender::new(LOOPBACK).unwrap()).await.unwrap(), 0);

        // Unknown channel, bad id, no token.
        for bad in ["/api/v1/alerts/channels/ch-000000000000/test", "/api/v1/alerts/channels/nope/test"] {
            let a = call(&router, admin_json("POST", bad, json!({}))).await;
            assert_eq!((a.status, a.json()["error"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{bad}");
        }
        let anonymous =
            axum::http::Request::builder().method("POST").uri(&path).body(axum::body::Body::empty()).unwrap();
        assert_eq!(call(&router, anonymous).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(receiver.received().len(), 2, "only the two asked for");
    }
);

both_backends!(a_channel_is_told_only_of_its_runners_and_kinds, |store: Store| async move {
    let receiver = Receiver::start().unwrap();
    let router = router(&store);
    store.set_alert_policy(Policy { after_checks: 1, min_duration_ms: 0, recover_after_checks: None });
    let create = |body: Value| {
        let router = router.clone();
        async move { call(&router, admin_json("POST", "/api/v1/alerts/channels", body)).await }
    };
    let team =
        create(json!({"name": "team-a", "kind": "webhook", "url": receiver.url("/team-a"), "runners": "team-a/*"}))
            .await;
    assert_eq!(team.status, StatusCode::CREATED, "{}", team.text);
    assert_eq!(
        (team.json()["runners"].as_str(), team.json()["kinds"].clone()),
        (Some("team-a/*"), json!(["degraded", "stale", "never_reported", "recovered"]))
    );
    let pager =
        create(json!({"name": "pager", "kind": "webhook", "url": receiver.url("/pager"), "kinds": ["stale"]})).await;
    assert_eq!(pager.status, StatusCode::CREATED, "{}", pager.text);
    assert_eq!((pager.json()["runners"].clone(), pager.json()["kinds"].clone()), (Value::Null, json!(["stale"])));
    let listed = call(&router, admin_get("/api/v1/alerts/channels")).await.json();
    assert_eq!(listed["channels"].as_array().unwrap().len(), 2, "{listed}");

    let (a, a_token) = add_runner(&store, "team-a/build").await.unwrap();
    let (b, b_token) = add_runner(&store, "team-b/build").await.unwrap();
    post(&router, &a, &a_token, "degraded", 0).await;
    post(&router, &b, &b_token, "degraded", 0).await;
    drain(&store, &Sender::new(LOOPBACK).unwrap()).await;
    let seen = |r: &Received| {
        let e: Value = serde_json::from_str(&r.body).unwrap();
        (r.path.clone(), e["runner"]["name"].as_str().unwrap().to_owned(), e["kind"].as_str().unwrap().to_owned())
    };
    let got: Vec<_> = receiver.received().iter().map(seen).collect();
    assert_eq!(got, [("/team-a".to_owned(), "team-a/build".to_owned(), "degraded".to_owned())], "only team-a's");

    // Both go stale: the pager hears of both, team-a of its own.
    let now = netready_plane::db::now_ms();
    assert_eq!(store.sweep_stale(now, now + 1).await.unwrap(), 2);
    drain(&store, &Sender::new(LOOPBACK).unwrap()).await;
    let mut got: Vec<_> = receiver.received()[1..].iter().map(seen).collect();
    got.sort();
    let want = [("/pager", "team-a/build"), ("/pager", "team-b/build"), ("/team-a", "team-a/build")]
        .map(|(p, n)| (p.to_owned(), n.to_owned(), "stale".to_owned()));
    assert_eq!(got, want);

    // What is refused, with what is expected; nothing stored.
    for (body, says) in [
        (json!({"runners": ""}), "invalid runners pattern"),
        (json!({"runners": null}), "runners is null"),
        (json!({"kinds": []}), "kinds is empty"),
        (json!({"kinds": ["paged"]}), "invalid kind 'paged'"),
        (json!({"kinds": ["stale", "stale"]}), "given twice"),
        (json!({"kinds": null}), "kinds is null"),
    ] {
        let mut full = json!({"name": "bad", "kind": "webhook", "url": receiver.url("/bad")});
        full.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
        let a = create(full).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", a.text);
        assert!(a.json()["message"].as_str().unwrap().contains(says), "{body}: {}", a.text);
    }
    let listed = call(&router, admin_get("/api/v1/alerts/channels")).await.json();
    assert_eq!(listed["channels"].as_array().unwrap().len(), 2, "nothing stored: {listed}");
    let page = call(&router, admin_get("/dashboard/alerts")).await.text;
    assert!(page.contains("stale of every runner") && page.contains("every change of runners team-a/*"), "{page}");
});

both_backends!(slack_channels_get_text_and_no_secret, |store: Store| async move {
    let receiver = Receiver::start().unwrap();
    let router = router(&store);
    store.set_alert_policy(Policy { after_checks: 1, min_duration_ms: 0, recover_after_checks: None });
    let a = call(
        &router,
        admin_json(
            "POST",
            "/api/v1/alerts/channels",
            json!({"name": "slack", "kind": "slack", "url": receiver.url("/services/T0/B0/XYZ")}),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    assert!(a.json().get("secret").is_none(), "{}", a.text);
    assert!(!a.text.contains("XYZ"), "a Slack URL's path is its secret: {}", a.text);
    let (id, token) = add_runner(&store, "slacky").await.unwrap();
    post(&router, &id, &token, "degraded", 0).await;
    drain(&store, &Sender::new(LOOPBACK).unwrap()).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/services/T0/B0/XYZ");
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("slacky") && text.contains("is degraded") && text.contains("logs none"), "{text}");
    assert!(got[0].header("x-netready-signature").is_none());
    let list = call(&router, admin_get("/api/v1/alerts/channels")).await;
    assert!(!list.text.contains("XYZ"), "{}", list.text);
});

both_backends!(channels_are_managed_through_the_api, |store: Store| async move {
    let router = router(&store);
    let create = |body: Value| admin_json("POST", "/api/v1/alerts/channels", body);
    for (body, says) in [
        (json!({"name": "x", "kind": "webhook", "url": "http://hooks.example.com/x"}), "only allowed to this machine"),
        (json!({"name": "x", "kind": "email", "url": "https://h.example/x"}), "expected webhook or slack"),
        (json!({"name": "", "kind": "webhook", "url": "https://h.example/x"}), "1 to 100 printable"),
        (json!({"name": "x", "kind": "webhook", "url": "https://h.example/x", "secret": "short"}), "16 to 512"),
        (
            json!({"name": "x", "kind": "slack", "url": "https://h.example/x", "secret": "0123456789abcdef"}),
            "takes no secret",
        ),
    ] {
        let a = call(&router, create(body.clone())).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", a.text);
        assert_eq!(a.json()["error"], "invalid_channel");
        assert!(a.json()["message"].as_str().unwrap().contains(says), "{}", a.text);
    }
    let a = call(&router, create(json!({"name": "mine", "kind": "webhook", "url": "https://h.example/x?token=abc", "secret": "my-own-secret-0123456789"}))).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let created = a.json();
    assert_eq!(created["secret"], "my-own-secret-0123456789");
    assert_eq!(created["url"], "https://h.example/x?…");
    let list = call(&router, admin_get("/api/v1/alerts/channels")).await;
    assert!(!list.text.contains("my-own-secret") && !list.text.contains("abc"), "{}", list.text);
    assert_eq!(list.json()["channels"][0]["name"], "mine");

    let unauthenticated = axum::http::Request::get("/api/v1/alerts/channels").body(axum::body::Body::empty()).unwrap();
    assert_eq!(call(&router, unauthenticated).await.status, StatusCode::UNAUTHORIZED);
    let path = format!("/api/v1/alerts/channels/{}", created["id"].as_str().unwrap());
    assert_eq!(call(&router, admin_json("DELETE", &path, json!(null))).await.status, StatusCode::NO_CONTENT);
    assert_eq!(call(&router, admin_json("DELETE", &path, json!(null))).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        call(&router, admin_json("DELETE", "/api/v1/alerts/channels/%00", json!(null))).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(call(&router, admin_get("/api/v1/alerts/notifications?limit=0")).await.status, StatusCode::BAD_REQUEST);
    let stored = channels::add(
        &store,
        channels::NewChannel {
            name: "direct".into(),
            kind: "webhook".into(),
            url: "https://h.example/y".into(),
            secret: None,
            runners: None,
            kinds: None,
        },
        LOOPBACK,
    )
    .await
    .unwrap();
    assert!(stored.secret.starts_with("whsec_") && stored.secret.len() == 70);
});

/// Two plane replicas (two stores, each with its own pool) on one database.
async fn two_replicas_send_each_notification_once(url: &str) {
    let a = Store::open(url).await.unwrap();
    let b = Store::open(url).await.unwrap();
    for s in [&a, &b] {
        s.set_alert_policy(Policy { after_checks: 1, min_duration_ms: 0, recover_after_checks: None });
    }
    let receiver = Receiver::start().unwrap();
    let (router_a, router_b) = (router(&a), router(&b));
    webhook(&router_a, &receiver.url("/hook")).await;

    // Twenty runners degrade, their reports split between the replicas.
    let mut runners = Vec::new();
    for n in 0..20 {
        let (id, token) = add_runner(&a, &format!("runner-{n}")).await.unwrap();
        post(if n % 2 == 0 { &router_a } else { &router_b }, &id, &token, "degraded", 0).await;
        runners.push(id);
    }
    // Both deliver at once, round after round, until nothing is left.
    let sender = Sender::new(LOOPBACK).unwrap();
    let set = settings();
    for _ in 0..10 {
        let (x, y) = tokio::join!(deliver_due(&a, &set, &sender), deliver_due(&b, &set, &sender));
        if x.unwrap() + y.unwrap() == 0 {
            break;
        }
    }
    let got = receiver.received();
    let mut keys: Vec<&str> = got.iter().map(|r| r.header("idempotency-key").unwrap()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!((got.len(), keys.len()), (20, 20), "each notification sent once");

    // All of them go stale; both replicas sweep at once: each runner is announced once.
    let now = netready_plane::db::now_ms();
    let (x, y) = tokio::join!(a.sweep_stale(now, now + 1), b.sweep_stale(now, now + 1));
    assert_eq!(x.unwrap() + y.unwrap(), 20, "every runner announced stale by one replica");
    assert_eq!(a.sweep_stale(now, now + 1).await.unwrap(), 0, "and not again");
    for _ in 0..10 {
        let (x, y) = tokio::join!(deliver_due(&a, &set, &sender), deliver_due(&b, &set, &sender));
        if x.unwrap() + y.unwrap() == 0 {
            break;
        }
    }
    let stale: Vec<Value> = receiver.received()[20..].iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    assert_eq!(stale.len(), 20);
    assert!(stale.iter().all(|e| e["kind"] == "stale" && e["from"] == "degraded"), "{stale:?}");
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_send_each_notification_once_sqlite() {
    let db = support::sqlite();
    two_replicas_send_each_notification_once(&db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_send_each_notification_once_postgres() {
    let Some(db) = support::postgres().await else { return };
    two_replicas_send_each_notification_once(&db.url).await;
}

both_backends!(a_revoked_runner_is_not_announced_stale_a_live_one_is_and_recovers, |store: Store| async move {
    let receiver = Receiver::start().unwrap();
    let router = router(&store);
    webhook(&router, &receiver.url("/hook")).await;
    let (id, token) = add_runner(&store, "retired").await.unwrap();
    post(&router, &id, &token, "ready", 0).await;
    store.revoke_runner(&id).await.unwrap();
    let now = netready_plane::db::now_ms();
    assert_eq!(store.sweep_stale(now, now + 1).await.unwrap(), 0);
    let (id2, token2) = add_runner(&store, "quiet").await.unwrap();
    post(&router, &id2, &token2, "ready", 0).await;
    let now = netready_plane::db::now_ms();
    assert_eq!(store.sweep_stale(now, now + 1).await.unwrap(), 1, "a live runner that stops reporting is");
    post(&router, &id2, &token2, "ready", 1).await;
    post(&router, &id2, &token2, "ready", 2).await;
    drain(&store, &Sender::new(LOOPBACK).unwrap()).await;
    let kinds: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["stale", "recovered"]);
});

both_backends!(only_newer_checks_count_and_a_change_without_channels_queues_nothing, |store: Store| async move {
    let receiver = Receiver::start().unwrap();
    let router = router(&store);
    store.set_alert_policy(Policy { after_checks: 2, min_duration_ms: 0, recover_after_checks: None });
    let (id, token) = add_runner(&store, "counted").await.unwrap();
    let sender = Sender::new(LOOPBACK).unwrap();

    // Degraded, confirmed while there is no channel: the tracker moves, nothing is queued.
    post(&router, &id, &token, "ready", 0).await;
    post(&router, &id, &token, "degraded", 10).await;
    post(&router, &id, &token, "degraded", 11).await;
    assert_eq!(store.alert_counts().await.unwrap(), Default::default());
    webhook(&router, &receiver.url("/hook")).await;

    // A repeat of the newest check and a late (older) check are not consecutive checks.
    post(&router, &id, &token, "ready", 20).await;
    let mut repeat = with_status(report(), "ready");
    repeat["checked_at"] = json!(at(20));
    let a = call(&router, post_report(&id, Some(&token), repeat.to_string())).await;
    assert_eq!(a.json()["duplicate"], true, "{}", a.text);
    post(&router, &id, &token, "ready", 15).await;
    drain(&store, &sender).await;
    assert!(receiver.received().is_empty(), "one newer ready check only: {:?}", receiver.received());

    // The second newer one confirms the recovery (from the degraded announced without a channel).
    post(&router, &id, &token, "ready", 21).await;
    drain(&store, &sender).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!((body["kind"].as_str(), body["since"].as_str()), (Some("recovered"), Some(at(20).as_str())));
});

/// On SQLite a write transaction that reads first (the report writer reads the runners' state,
/// the stale sweep its trackers) must not fail when another connection committed in between: a
/// deferred `BEGIN` gets "database is locked" there at once, whatever the busy timeout, and the
/// agent a 503. Reports stream in for runners that another replica on the same file keeps
/// announcing stale and delivering: every report is stored, every sweep and claim succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_ingest_and_the_alert_worker_write_side_by_side_without_locking_errors() {
    let db = support::sqlite();
    let plane = Store::open(&db.url).await.unwrap();
    let worker = Store::open(&db.url).await.unwrap();
    for s in [&plane, &worker] {
        s.set_alert_policy(Policy { after_checks: 1, min_duration_ms: 0, recover_after_checks: None });
    }
    let receiver = Receiver::start().unwrap();
    let router = router(&plane);
    webhook(&router, &receiver.url("/hook")).await;
    let mut runners = Vec::new();
    for n in 0..16 {
        runners.push(add_runner(&plane, &format!("runner-{n}")).await.unwrap());
    }

    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let announced = std::sync::Arc::new(AtomicUsize::new(0));
    let sweeper = {
        let (worker, done, announced) = (worker.clone(), done.clone(), announced.clone());
        tokio::spawn(async move {
            let sender = Sender::new(LOOPBACK).unwrap();
            while !done.load(Ordering::Relaxed) {
                let now = netready_plane::db::now_ms();
                // Everything received before now is stale: every sweep has something to write.
                let n = worker.sweep_stale(now, now + 1).await.expect("the stale sweep never fails");
                announced.fetch_add(n, Ordering::Relaxed);
                deliver_due(&worker, &settings(), &sender).await.expect("claiming never fails");
            }
        })
    };
    // Concurrent reports from every runner, round after round (each round's posts land in few
    // writer batches), until the sweeper has committed many times in between.
    let mut round = 0u64;
    while round < 20 || (announced.load(Ordering::Relaxed) < 100 && round < 1000) {
        round += 1;
        let posts = runners.iter().map(|(id, token)| {
            let mut r = with_status(report(), if round.is_multiple_of(2) { "degraded" } else { "ready" });
            r["checked_at"] = json!(at(round));
            call(&router, post_report(id, Some(token), r.to_string()))
        });
        for a in futures_util::future::join_all(posts).await {
            assert_eq!(a.status, StatusCode::CREATED, "round {round}: {}", a.text);
        }
    }
    done.store(true, Ordering::Relaxed);
    sweeper.await.unwrap();
    let announced = announced.load(Ordering::Relaxed);
    assert!(announced >= 100, "the sweeper wrote while reports came in: {announced} announced stale in {round} rounds");
    plane.close().await;
    worker.close().await;
}

/// A schema-7 outbox (before notifications could be given up) moves to schema 8 as it was: the
/// undelivered notification is still sent, the delivered one stays delivered, none is expired.
async fn a_schema_7_outbox_survives_schema_8(url: &str) {
    netready_plane::db::migrate_database_up_to(url, 7).await.unwrap();
    let receiver = Receiver::start().unwrap();
    {
        use sqlx::any::{AnyPoolOptions, install_default_drivers};
        install_default_drivers();
        let url = if url.starts_with("postgres") { url.to_owned() } else { format!("sqlite://{url}") };
        let pool = AnyPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
        sqlx::query(
            "INSERT INTO alert_channels (id, name, kind, url, secret, created_at) \
             VALUES ('ch-000000000007', 'old', 'webhook', $1, 'whsec_0123456789abcdef', 0)",
        )
        .bind(receiver.url("/hook"))
        .execute(&pool)
        .await
        .unwrap();
        for (id, delivered) in [("ntf-sent", Some(2_000i64)), ("ntf-waiting", None)] {
            sqlx::query(
                "INSERT INTO alert_outbox (id, channel_id, runner_id, kind, payload, created_at, at_ms, attempts, \
                 next_attempt_at, delivered_at) VALUES ($1, 'ch-000000000007', 'rn-000000000007', 'degraded', \
                 '{\"id\":\"x\",\"kind\":\"degraded\"}', 1000, 1000, 1, 0, $2)",
            )
            .bind(id)
            .bind(delivered)
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;
    }
    let store = Store::open(url).await.unwrap();
    let router = router(&store);
    let n = call(&router, admin_get("/api/v1/alerts/notifications")).await.json();
    let states: Vec<(&str, &str)> = n["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["id"].as_str().unwrap(), x["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("ntf-sent", "delivered"), ("ntf-waiting", "pending")]);
    assert_eq!(deliver_due(&store, &settings(), &Sender::new(LOOPBACK).unwrap()).await.unwrap(), 1);
    let got = receiver.received();
    assert_eq!(got.iter().map(|r| r.header("idempotency-key")).collect::<Vec<_>>(), [Some("ntf-waiting")]);
    store.close().await;
}

#[tokio::test]
async fn a_schema_7_outbox_survives_schema_8_sqlite() {
    let db = support::sqlite();
    a_schema_7_outbox_survives_schema_8(&db.url).await;
}

#[tokio::test]
async fn a_schema_7_outbox_survives_schema_8_postgres() {
    let Some(db) = support::postgres().await else { return };
    a_schema_7_outbox_survives_schema_8(&db.url).await;
}

/// The runner name of issue 19: a mention of the whole workspace and a planted link.
const EVIL_NAME: &str = "team/<!channel> & <https://evil.example|click>";

both_backends!(a_runner_name_never_becomes_a_slack_mention_or_link, |store: Store| async move {
    let receiver = Receiver::start().unwrap();
    let router = router(&store);
    store.set_alert_policy(Policy { after_checks: 1, min_duration_ms: 0, recover_after_checks: None });
    let a = call(
        &router,
        admin_json(
            "POST",
            "/api/v1/alerts/channels",
            json!({"name": "<!here> ops", "kind": "slack", "url": receiver.url("/services/T0/B0/XYZ")}),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let channel = a.json()["id"].as_str().unwrap().to_owned();
    let (id, token) = add_runner(&store, EVIL_NAME).await.unwrap();
    post(&router, &id, &token, "degraded", 0).await;
    drain(&store, &Sender::new(LOOPBACK).unwrap()).await;
    let sent = call(&router, admin_json("POST", &format!("/api/v1/alerts/channels/{channel}/test"), json!({}))).await;
    assert_eq!(sent.json()["delivered"], true, "{}", sent.text);

    let got = receiver.received();
    assert_eq!(got.len(), 2, "{got:?}");
    for r in &got {
        // As Slack reads it: mrkdwn is the top-level text and every mrkdwn object; a mention is
        // <!…>, <@…> or <#…>, a link <http…>. None may appear; plain_text is shown as typed.
        let message: Value = serde_json::from_str(&r.body).unwrap();
        let mrkdwn = netready_plane::alerts::slack::mrkdwn_texts(&message);
        assert!(!mrkdwn.is_empty(), "{message}");
        for text in &mrkdwn {
            assert!(!text.contains('<') && !text.contains('>'), "markup Slack would act on: {text}");
            assert!(!text.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").contains('&'), "{text}");
        }
    }
    let degraded: Value = serde_json::from_str(&got[0].body).unwrap();
    let text = degraded["text"].as_str().unwrap();
    assert!(text.contains("team/&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;"), "{text}");
    assert_eq!(degraded["blocks"][1]["fields"][0]["type"], "plain_text");
    assert_eq!(degraded["blocks"][1]["fields"][0]["text"], format!("Runner: {EVIL_NAME}"), "shown as typed");
    let test: Value = serde_json::from_str(&got[1].body).unwrap();
    assert!(test["text"].as_str().unwrap().contains("channel &lt;!here&gt; ops"), "{test}");

    // The webhook body is JSON (the name as it is); the dashboard escapes it as HTML.
    let page = call(&router, admin_get("/dashboard/alerts")).await.text;
    assert!(!page.contains("<!channel>") && !page.contains("<https://evil"), "the page escapes names");
});

/// A store's channel written as an older plane (or another setting) stored it: no check at all.
async fn stored_channel(store: &Store, name: &str, url: &str) -> String {
    let channel = netready_plane::db::alerts::Channel {
        id: format!("ch-{:012x}", name.len() as u64 * 0x1000 + url.len() as u64),
        name: name.to_owned(),
        kind: netready_plane::alerts::ChannelKind::Webhook,
        url: url.to_owned(),
        secret: "whsec_0123456789abcdef".to_owned(),
        created_at: 0,
        route: Default::default(),
    };
    store.add_alert_channel(&channel).await.unwrap();
    channel.id
}

both_backends!(webhooks_cannot_point_inward_at_creation_or_at_send_time, |store: Store| async move {
    use netready_plane::alerts::address::Destinations;
    // The plane as served: no loopback, no private ranges.
    let strict = router_as_served(&store);
    for (url, says) in [
        ("https://169.254.169.254/latest/meta-data/iam", "the instance metadata service: never allowed"),
        ("https://[fd00:ec2::254]/latest", "the instance metadata service: never allowed"),
        ("https://10.0.0.1/hook", "--alert-allow-private"),
        ("https://[fe80::1]/hook", "link-local"),
        ("http://127.0.0.1:8080/api/v1/runners", "--alert-allow-loopback"),
        ("http://localhost:8080/hook", "--alert-allow-loopback"),
    ] {
        let a = call(
            &strict,
            admin_json("POST", "/api/v1/alerts/channels", json!({"name": "in", "kind": "webhook", "url": url})),
        )
        .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {}", a.text);
        let message = a.json()["message"].as_str().unwrap().to_owned();
        assert!(message.starts_with("refused url: ") && message.contains(says), "{url}: {message}");
    }
    assert!(store.alert_channels().await.unwrap().is_empty(), "nothing stored");
    // Private ranges when the operator allows them; the metadata service never.
    let private = netready_plane::app(netready_plane::AppState {
        alert_destinations: Destinations { allow_private: true, allow_loopback: false },
        ..netready_plane::AppState::new(store.clone(), ADMIN, netready_plane::DEFAULT_STALE_AFTER)
    });
    for (url, status) in [
        ("https://10.0.0.1/hook", StatusCode::CREATED),
        ("https://[fd00:ec2::254]/x", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let a = call(
            &private,
            admin_json("POST", "/api/v1/alerts/channels", json!({"name": "vpc", "kind": "webhook", "url": url})),
        )
        .await;
        assert_eq!(a.status, status, "{url}: {}", a.text);
    }

    // At send time, with the plane's strict sender: a name that resolves to 127.0.0.1 (a real
    // receiver listens there), and literals stored before the rule — refused, nothing connected.
    let receiver = Receiver::start().unwrap();
    let rebinding = format!("http://localhost:{}/hook", receiver.addr().port());
    stored_channel(&store, "rebinding", &rebinding).await;
    stored_channel(&store, "metadata", "https://169.254.169.254/latest/meta-data").await;
    store.set_alert_policy(Policy { after_checks: 1, min_duration_ms: 0, recover_after_checks: None });
    let (id, token) = add_runner(&store, "inward").await.unwrap();
    post(&router(&store), &id, &token, "degraded", 0).await;
    let sender = Sender::new(Destinations::default()).unwrap();
    assert_eq!(deliver_due(&store, &settings(), &sender).await.unwrap(), 3, "one per channel");
    assert!(receiver.received().is_empty(), "nothing reached the loopback receiver");
    let n = call(&router(&store), admin_get("/api/v1/alerts/notifications")).await.json();
    let mut errors: Vec<String> = n["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| format!("{} {}", x["state"].as_str().unwrap(), x["last_error"].as_str().unwrap()))
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        [
            "failing refused: 10.0.0.1 is a private address: allowed only with --alert-allow-private (receivers in the VPC)",
            "failing refused: 169.254.169.254 is the instance metadata service: never allowed",
            "failing refused: localhost resolves to 127.0.0.1, a loopback address (this machine): allowed only with --alert-allow-loopback, for tests",
        ]
    );
    // With loopback allowed, the same notification goes to the receiver.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    deliver_due(&store, &settings(), &Sender::new(LOOPBACK).unwrap()).await.unwrap();
    assert_eq!(receiver.received().len(), 1);
});

/// Issue 19's goal, in one process: a channel whose receiver hangs and one that answers 500
/// beside a healthy one, hundreds of runners changing at once. The healthy channel is told of
/// every change before the hanging receiver's first attempt has even timed out, and the failing
/// one is paused after a few attempts instead of being hammered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_or_failing_receiver_does_not_hold_up_a_healthy_channel() {
    use netready_plane::alerts::deliver::{BREAKER_FAILURES, PER_CHANNEL, Worker};
    let db = support::sqlite();
    let store = Store::open(&db.url).await.unwrap();
    store.set_alert_policy(Policy { after_checks: 1, min_duration_ms: 0, recover_after_checks: None });
    let router = router(&store);
    let (hanging, failing, healthy) =
        (Receiver::start().unwrap(), Receiver::start().unwrap(), Receiver::start().unwrap());
    hanging.hold(true);
    failing.answer(500);
    for r in [&hanging, &failing, &healthy] {
        webhook(&router, &r.url("/hook")).await;
    }
    let worker = tokio::spawn(
        Worker::new(
            store.clone(),
            Settings { poll: Duration::from_secs(1), ..settings() },
            Sender::new(LOOPBACK).unwrap(),
        )
        .run(),
    );
    const RUNNERS: usize = 300;
    let mut runners = Vec::new();
    for n in 0..RUNNERS {
        runners.push(add_runner(&store, &format!("runner-{n}")).await.unwrap());
    }
    let start = std::time::Instant::now();
    let posts = runners.iter().map(|(id, token)| post(&router, id, token, "degraded", 0));
    futures_util::future::join_all(posts).await;
    let posted = start.elapsed();
    let mut all = None;
    while all.is_none() && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        all = (healthy.received().len() >= RUNNERS).then(|| start.elapsed());
    }
    worker.abort();
    let all = all.unwrap_or_else(|| panic!("the healthy channel got {} of {RUNNERS}", healthy.received().len()));
    println!("{RUNNERS} changes posted in {posted:?}; the healthy channel had them all after {all:?}");
    assert!(all < Duration::from_secs(9), "before the hanging receiver's first attempt timed out (10 s): {all:?}");
    assert_eq!(hanging.received().len(), PER_CHANNEL, "the hanging channel holds its own slots, no more");
    let failed = failing.received().len();
    assert!(
        failed >= BREAKER_FAILURES as usize && failed < BREAKER_FAILURES as usize + PER_CHANNEL,
        "the failing channel was paused after {BREAKER_FAILURES} failures: {failed} attempts"
    );
    let keys: std::collections::BTreeSet<String> =
        healthy.received().iter().map(|r| r.header("idempotency-key").unwrap().to_owned()).collect();
    assert_eq!(keys.len(), RUNNERS, "each once");
    hanging.hold(false);
}

both_backends!(a_silence_holds_back_its_runners_changes_until_it_ends, |store: Store| async move {
    let receiver = Receiver::start().unwrap();
    let router = router(&store);
    store.set_alert_policy(Policy { after_checks: 1, min_duration_ms: 0, recover_after_checks: None });
    webhook(&router, &receiver.url("/hook")).await;
    let (paris, paris_token) = add_runner(&store, "eu-west-3/build").await.unwrap();
    let (virginia, virginia_token) = add_runner(&store, "us-east-1/build").await.unwrap();
    let sender = Sender::new(LOOPBACK).unwrap();

    let body = json!({"runners": "eu-west-3/*", "for": "2h", "reason": "VPC endpoint migration"});
    let a = call(&router, admin_json("POST", "/api/v1/alerts/silences", body)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.text);
    let silence = a.json();
    let id = silence["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (silence["runners"].as_str(), silence["reason"].as_str()),
        (Some("eu-west-3/*"), Some("VPC endpoint migration"))
    );
    let lasts = |s: &Value| {
        let t = |k: &str| humantime::parse_rfc3339(s[k].as_str().unwrap()).unwrap();
        t("ends_at").duration_since(t("starts_at")).unwrap()
    };
    assert_eq!(lasts(&silence), Duration::from_secs(7200));
    let listed = call(&router, admin_get("/api/v1/alerts/silences")).await.json();
    assert_eq!(listed["silences"].as_array().unwrap().len(), 1, "{listed}");
    let page = call(&router, admin_get("/dashboard/alerts")).await.text;
    assert!(page.contains("VPC endpoint migration") && page.contains(&id), "shown on the Alerts page");

    // Both degrade: only the unsilenced runner is announced.
    post(&router, &paris, &paris_token, "degraded", 0).await;
    post(&router, &virginia, &virginia_token, "degraded", 0).await;
    drain(&store, &sender).await;
    let names: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["runner"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["us-east-1/build"]);

    // Ended by hand: the next change is announced (its recovery, from the degraded nobody heard of).
    let path = format!("/api/v1/alerts/silences/{id}");
    assert_eq!(call(&router, admin_json("DELETE", &path, json!(null))).await.status, StatusCode::NO_CONTENT);
    assert_eq!(call(&router, admin_json("DELETE", &path, json!(null))).await.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&router, admin_get("/api/v1/alerts/silences")).await.json()["silences"], json!([]));
    post(&router, &paris, &paris_token, "ready", 1).await;
    drain(&store, &sender).await;
    let last: Value = serde_json::from_str(&receiver.received().last().unwrap().body).unwrap();
    assert_eq!((last["runner"]["name"].as_str(), last["kind"].as_str()), (Some("eu-west-3/build"), Some("recovered")));

    // Ending by itself: a silence whose end has passed holds nothing back.
    let ended = netready_plane::alerts::silences::Silence {
        id: "sil-00000000000a".into(),
        runners: "*".into(),
        reason: "over".into(),
        created_at: 0,
        starts_at: 0,
        ends_at: netready_plane::db::now_ms() - 1,
    };
    store.add_silence(&ended).await.unwrap();
    post(&router, &virginia, &virginia_token, "ready", 1).await;
    drain(&store, &sender).await;
    assert_eq!(receiver.received().len(), 3, "announced: the silence had ended");

    // What is refused, and nothing stored.
    for (body, says) in [
        (json!({"runners": "", "for": "2h", "reason": "r"}), "invalid runners pattern"),
        (json!({"runners": "a", "for": "forever", "reason": "r"}), "invalid duration"),
        (json!({"runners": "a", "for": "90d", "reason": "r"}), "from 1m to 30d"),
        (json!({"runners": "a", "for": "2h", "reason": ""}), "needs a reason"),
    ] {
        let a = call(&router, admin_json("POST", "/api/v1/alerts/silences", body.clone())).await;
        assert_eq!(
            (a.status, a.json()["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_silence")),
            "{body}"
        );
        assert!(a.json()["message"].as_str().unwrap().contains(says), "{body}: {}", a.text);
    }
    assert_eq!(call(&router, admin_get("/api/v1/alerts/silences")).await.json()["silences"], json!([]));
    let missing =
        call(&router, admin_json("POST", "/api/v1/alerts/silences", json!({"runners": "a", "reason": "r"}))).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", missing.text);
});

both_backends!(down_and_up_are_confirmed_by_their_own_counts, |store: Store| async move {
    let receiver = Receiver::start().unwrap();
    let router = router(&store);
    // Page after 2 bad checks, clear after 3 good ones.
    store.set_alert_policy(Policy { after_checks: 2, min_duration_ms: 0, recover_after_checks: Some(3) });
    webhook(&router, &receiver.url("/hook")).await;
    let (id, token) = add_runner(&store, "counted-apart").await.unwrap();
    let sender = Sender::new(LOOPBACK).unwrap();
    let kinds = |receiver: &Receiver| -> Vec<String> {
        receiver
            .received()
            .iter()
            .map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    post(&router, &id, &token, "ready", 0).await;
    post(&router, &id, &token, "degraded", 1).await;
    drain(&store, &sender).await;
    assert!(kinds(&receiver).is_empty(), "one bad check: nothing");
    post(&router, &id, &token, "degraded", 2).await;
    drain(&store, &sender).await;
    assert_eq!(kinds(&receiver), ["degraded"], "two bad checks page");
    post(&router, &id, &token, "ready", 3).await;
    post(&router, &id, &token, "ready", 4).await;
    drain(&store, &sender).await;
    assert_eq!(kinds(&receiver), ["degraded"], "two good checks do not clear it");
    post(&router, &id, &token, "ready", 5).await;
    drain(&store, &sender).await;
    assert_eq!(kinds(&receiver), ["degraded", "recovered"], "the third does");
    let body: Value = serde_json::from_str(&receiver.received()[1].body).unwrap();
    assert_eq!(body["since"].as_str(), Some(at(3).as_str()), "since the first good check");
});

both_backends!(changes_of_many_runners_at_once_go_out_as_one_grouped_notification, |store: Store| async move {
    let receiver = Receiver::start().unwrap();
    let router = router(&store);
    store.set_alert_policy(Policy { after_checks: 1, min_duration_ms: 0, recover_after_checks: None });
    let (_, secret) = webhook(&router, &receiver.url("/hook")).await;
    let grouped = Settings { group_window: Duration::from_millis(300), ..settings() };
    let sender = Sender::new(LOOPBACK).unwrap();
    let mut runners = Vec::new();
    for n in 0..5 {
        let (id, token) = add_runner(&store, &format!("eu-west-3/runner-{n}")).await.unwrap();
        post(&router, &id, &token, "degraded", 0).await;
        runners.push((id, token));
    }
    assert_eq!(deliver_due(&store, &grouped, &sender).await.unwrap(), 0, "they wait for the window");
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(deliver_due(&store, &grouped, &sender).await.unwrap(), 5);
    let got = receiver.received();
    assert_eq!(got.len(), 1, "one request for the five: {got:?}");
    verify(&secret, &got[0]);
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(got[0].header("idempotency-key"), body["id"].as_str());
    assert!(body["id"].as_str().unwrap().starts_with("grp-"), "{body}");
    assert_eq!(
        (body["kind"].as_str(), body["grouped"].as_bool(), body["count"].as_u64()),
        (Some("degraded"), Some(true), Some(5))
    );
    assert_eq!(
        body["cause"],
        json!({"service": "logs", "reachability": "none", "access_type": "vpc_endpoint", "runners": 5}),
        "{body}"
    );
    let members = body["notifications"].as_array().unwrap();
    assert_eq!(members.len(), 5);
    assert!(members.iter().all(|m| m["kind"] == "degraded" && m["id"].as_str().unwrap().starts_with("ntf-")));
    let n = call(&router, admin_get("/api/v1/alerts/notifications")).await.json();
    let states: Vec<&str> =
        n["notifications"].as_array().unwrap().iter().map(|x| x["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["delivered"; 5], "each member is delivered");

    // One change alone goes as itself; a failed group is retried member by member's backoff.
    post(&router, &runners[0].0, &runners[0].1, "ready", 1).await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    deliver_due(&store, &grouped, &sender).await.unwrap();
    let single: Value = serde_json::from_str(&receiver.received()[1].body).unwrap();
    assert_eq!((single["kind"].as_str(), single.get("grouped")), (Some("recovered"), None), "{single}");
    receiver.answer(500);
    for (id, token) in &runners[1..3] {
        post(&router, id, token, "ready", 1).await;
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(deliver_due(&store, &grouped, &sender).await.unwrap(), 2);
    let n = call(&router, admin_get("/api/v1/alerts/notifications?state=failing")).await.json();
    let failing = n["notifications"].as_array().unwrap();
    assert_eq!(failing.len(), 2);
    assert!(failing.iter().all(|x| x["last_error"] == "the receiver answered 500"), "{n}");
});

both_backends!(a_runner_that_never_reports_is_announced_once_counted_and_recovers, |store: Store| async move {
    let receiver = Receiver::start().unwrap();
    let router = router(&store);
    webhook(&router, &receiver.url("/hook")).await;
    let (never, never_token) = add_runner(&store, "never-started").await.unwrap();
    let (retired, _) = add_runner(&store, "retired").await.unwrap();
    store.revoke_runner(&retired).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cut = netready_plane::db::now_ms();
    let (fresh, _) = add_runner(&store, "just-registered").await.unwrap();

    // Registered before the cut and never reported: announced once; revoked and recent ones not.
    let now = netready_plane::db::now_ms();
    assert_eq!(store.sweep_never_reported(now, cut).await.unwrap(), 1);
    assert_eq!(store.sweep_never_reported(now, cut).await.unwrap(), 0, "not again");
    assert_eq!(store.sweep_stale(now, now + 1).await.unwrap(), 0, "no report: not stale");

    // The API and /metrics say never_reported for the runners registered before the cut (the list
    // shows the revoked one too, marked revoked, as it does stale ones; /metrics counts it apart).
    let strict = netready_plane::app(netready_plane::AppState {
        // Those registered before the cut are 1.5 s old; the fresh one is younger than 1 s.
        never_reported_after_ms: 1000,
        ..netready_plane::AppState::new(store.clone(), ADMIN, netready_plane::DEFAULT_STALE_AFTER)
    });
    let list = call(&strict, admin_get("/api/v1/runners")).await.json();
    assert_eq!(list["counts"]["never_reported"], 2, "{list}");
    assert_eq!(list["counts"]["unknown"], 1, "{list}");
    let first = &list["runners"][0];
    assert_eq!((first["id"].as_str(), first["readiness"].as_str()), (Some(never.as_str()), Some("never_reported")));
    let filtered = call(&strict, admin_get("/api/v1/runners?readiness=never_reported")).await.json();
    assert_eq!(filtered["count"], 2, "{filtered}");
    let metrics =
        call(&strict, axum::http::Request::get("/metrics").body(axum::body::Body::empty()).unwrap()).await.text;
    assert!(metrics.contains("netready_plane_runners{readiness=\"never_reported\"} 1\n"), "{metrics}");
    assert!(metrics.contains("netready_plane_runners{readiness=\"revoked\"} 1\n"), "{metrics}");
    let _ = fresh;

    // It starts after all: two ready checks recover it.
    post(&router, &never, &never_token, "ready", 0).await;
    post(&router, &never, &never_token, "ready", 1).await;
    drain(&store, &Sender::new(LOOPBACK).unwrap()).await;
    let events: Vec<Value> = receiver.received().iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
    let seen: Vec<(&str, &str, &Value)> = events
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["runner"]["name"].as_str().unwrap(), &e["from"]))
        .collect();
    assert_eq!(
        seen,
        [("never_reported", "never-started", &Value::Null), ("recovered", "never-started", &json!("never_reported"))]
    );
    assert_eq!(events[0]["degraded_endpoints"], json!([]));
});
