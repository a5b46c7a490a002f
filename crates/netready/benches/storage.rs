//! How much history costs: a day of checks (288, one every 5 minutes) for 50 runners whose network
//! does not change (only timings vary), stored through the plane's own validation and writer, on
//! SQLite and (with NETREADY_TEST_POSTGRES_URL) PostgreSQL. Prints bytes per runner per day.
//!
//! On PostgreSQL each runner's latest report is a row rewritten by every check: its dead versions
//! are what autovacuum reclaims in production (it runs when 50 + 20 % of a table's rows are dead,
//! which for 50 runners checking every 5 minutes is every few minutes). A day here takes seconds,
//! so the bench runs that `VACUUM` itself once per simulated hour, and reports the history (what
//! grows with time) apart from the latest reports and states (what does not).
//!
//! Run: `cargo bench -p netready --bench storage` (see docs/benchmarks.md).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const RUNNERS: usize = 50;
const CHECKS_PER_DAY: u64 = 288;

/// The v2 fixture made ready (the logs endpoint reached), or left degraded.
fn fixture(ready: bool) -> serde_json::Value {
    let mut r: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/fixtures/report-v2-degraded.json")).expect("fixture");
    if ready {
        r["status"] = serde_json::json!("ready");
        r["endpoints"][1]["reachability"] = serde_json::json!("full");
        r["endpoints"][1]["connections"][0]["tcp"] =
            serde_json::json!({"outcome": "ok", "duration_ms": 1, "budget_ms": 1999});
    }
    r
}

/// PostgreSQL: bytes of these tables with their indexes and TOAST, after a `VACUUM`.
async fn pg_bytes(c: &mut sqlx::PgConnection, tables: &[&str]) -> i64 {
    let mut total = 0;
    for table in tables {
        sqlx::raw_sql(&format!("VACUUM {table}")).execute(&mut *c).await.expect("vacuum");
        total += sqlx::query_scalar::<_, i64>(&format!("SELECT pg_total_relation_size('{table}')::BIGINT"))
            .fetch_one(&mut *c)
            .await
            .expect("size");
    }
    total
}

const HISTORY: [&str; 3] = ["checks", "history_bodies", "status_changes"];
const LATEST: [&str; 2] = ["latest_reports", "runner_state"];

async fn measure(label: &str, database: &str, ready: bool) {
    let store = netready_plane::Store::open(database).await.expect("open the store");
    let schemas = netready_plane::Schemas::shipped();
    let mut runners = Vec::new();
    for i in 0..RUNNERS {
        let (id, _) = netready_plane::add_runner(&store, &format!("storage-{i}")).await.expect("runner");
        runners.push(id);
    }
    let mut pg = match database.starts_with("postgres") {
        true => Some(<sqlx::PgConnection as sqlx::Connection>::connect(database).await.expect("postgres")),
        false => None,
    };
    let before = match &mut pg {
        Some(c) => (pg_bytes(c, &HISTORY).await, pg_bytes(c, &LATEST).await),
        None => (store.report_storage_bytes().await.expect("size"), 0),
    };
    let template = fixture(ready);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64;
    let day_ago = now - 86_400_000;
    for check in 0..CHECKS_PER_DAY {
        for (r, id) in runners.iter().enumerate() {
            let mut report = template.clone();
            let at = UNIX_EPOCH + Duration::from_millis((day_ago + check as i64 * 300_000 + r as i64) as u64);
            report["checked_at"] = serde_json::json!(humantime::format_rfc3339_millis(at).to_string());
            // Timings differ from check to check, as they do.
            report["duration_ms"] = serde_json::json!(2000 + (check * 7 + r as u64) % 13);
            report["endpoints"][0]["dns"]["duration_ms"] = serde_json::json!(check % 3);
            report["endpoints"][0]["connections"][0]["tcp"]["duration_ms"] = serde_json::json!((check + 1) % 4);
            let body = report.to_string();
            let new = netready_plane::api::readiness::validate(body.as_bytes(), &schemas, id, now, i64::MAX / 4)
                .expect("a valid report");
            store.store_report(new).await.expect("stored");
        }
        if let (Some(c), true) = (&mut pg, check % 12 == 11) {
            sqlx::raw_sql("VACUUM latest_reports, runner_state").execute(&mut *c).await.expect("vacuum");
        }
    }
    let after = match &mut pg {
        Some(c) => (pg_bytes(c, &HISTORY).await, pg_bytes(c, &LATEST).await),
        None => (store.report_storage_bytes().await.expect("size"), 0),
    };
    let bodies = store.count_bodies(&runners[0]).await.expect("count");
    let kib = |bytes: i64| bytes as f64 / RUNNERS as f64 / 1024.0;
    let total = (after.0 - before.0) + (after.1 - before.1);
    let split = match pg {
        Some(_) => format!("{:.1} KiB + {:.1} KiB", kib(after.0 - before.0), kib(after.1 - before.1)),
        None => "(one file)".to_owned(),
    };
    println!(
        "| {label} | {} | {RUNNERS} | {CHECKS_PER_DAY} | {:.1} KiB | {split} | {bodies} of {CHECKS_PER_DAY} |",
        if ready { "ready" } else { "degraded (logs none)" },
        kib(total)
    );
    store.close().await;
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!(
        "| backend | the network, all day | runners | checks per runner (one day) | storage per runner per day | \
         of which history + latest report and state | history bodies kept (one runner) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for ready in [true, false] {
        let dir = std::env::temp_dir().join(format!("netready-storage-bench-{}-{ready}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        rt.block_on(measure("SQLite", &dir.join("plane.db").display().to_string(), ready));
        let _ = std::fs::remove_dir_all(&dir);
        if let Ok(admin) = std::env::var("NETREADY_TEST_POSTGRES_URL") {
            rt.block_on(async {
                use sqlx::Connection;
                let name = format!("netready_storage_{}_{ready}", std::process::id());
                let mut c = sqlx::PgConnection::connect(&admin).await.expect("postgres");
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await.expect("create");
                let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).expect("url");
                measure("PostgreSQL", &format!("{base}/{name}"), ready).await;
                let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut c).await;
            });
        }
    }
}
