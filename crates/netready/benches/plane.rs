//! Benchmark of the plane (release binary, real database): report ingest throughput and latency
//! with 10,000 registered runners, the dashboard's list page at 10,000 runners, and the fleet view
//! (API and page) over their newest reports (degraded, spread over 100 subnets in 3 zones).
//! SQLite always; PostgreSQL when NETREADY_TEST_POSTGRES_URL names a server
//! (`scripts/test-postgres.sh start` prints one).
//!
//! Run: `cargo bench -p netready --bench plane` (see docs/benchmarks.md).

#![allow(unsafe_code)] // sysconf(3), for the clock tick of /proc/<pid>/stat.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_netready");
const ADMIN: &str = "bench-admin-token-0123456789";
const RUNNERS: usize = 10_000;
const CONCURRENCY: usize = 32;
const WARMUP: Duration = Duration::from_secs(2);
const MEASURE: Duration = Duration::from_secs(15);

struct Db {
    url: String,
    cleanup: Box<dyn FnOnce() + Send>,
}

fn sqlite_db() -> Db {
    let dir = std::env::temp_dir().join(format!("netready-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = dir.join("plane.db").display().to_string();
    Db { url, cleanup: Box::new(move || drop(std::fs::remove_dir_all(dir))) }
}

async fn postgres_db(admin: String) -> Db {
    use sqlx::Connection;
    let name = format!("netready_bench_{}", std::process::id());
    let mut c = sqlx::PgConnection::connect(&admin).await.expect("reach PostgreSQL");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut c).await.expect("drop");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut c).await.expect("create");
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).expect("url");
    let url = format!("{base}/{name}");
    let cleanup = Box::new(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
        rt.block_on(async {
            if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).await;
            }
        });
    });
    Db { url, cleanup }
}

/// Registers the runners directly in the database; returns (id, token) pairs.
async fn register(url: &str) -> Vec<(String, String)> {
    let store = netready_plane::Store::open(url).await.expect("open store");
    let runners: Vec<(String, String)> =
        (0..RUNNERS).map(|i| (format!("rn-bench{i:06}"), netready_plane::auth::new_token())).collect();
    let rows: Vec<(String, String, String)> = runners
        .iter()
        .enumerate()
        .map(|(i, (id, token))| (id.clone(), format!("bench-runner-{i:05}"), netready_plane::auth::token_hash(token)))
        .collect();
    store.add_runners(&rows).await.expect("add runners");
    store.close().await;
    runners
}

/// The plane process, killed if the benchmark panics.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

async fn run(name: &str, db: Db) -> String {
    let runners = Arc::new(register(&db.url).await);
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let plane = Command::new(BIN)
        .args(["plane", "serve", "--database", &db.url, "--listen", &addr.to_string()])
        .env("NETREADY_ADMIN_TOKEN", ADMIN)
        .stdout(Stdio::null())
        .spawn()
        .expect("start plane");
    let mut plane = KillOnDrop(plane);
    netready_process::install_crypto_provider();
    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(CONCURRENCY).build().expect("client");
    let base = format!("http://{addr}");
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let plane_pid = plane.0.id();
    let cpu_ticks = move || -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{plane_pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
        let field = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        field(11) + field(12) // utime, stime, in clock ticks
    };
    let template = Arc::new(
        include_str!("../../../tests/fixtures/report-v2-degraded.json")
            .replace("2026-11-26T13:43:38.555Z", "__CHECKED_AT__"),
    );
    let counter = Arc::new(AtomicU64::new(0));
    let epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64 - 86_400_000;
    // Every runner reports once before the clock starts, as a running fleet has: what is measured
    // is the steady state (each check a newer report of an unchanged network), not a fleet's first
    // hour, when every report is a runner's first.
    {
        let next = Arc::new(AtomicU64::new(0));
        let mut seeders = Vec::new();
        for _ in 0..CONCURRENCY {
            let (client, base, runners, template, next) =
                (client.clone(), base.clone(), runners.clone(), template.clone(), next.clone());
            seeders.push(tokio::spawn(async move {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some((id, token)) = runners.get(k) else { break };
                    let at = UNIX_EPOCH + Duration::from_millis(epoch - 3_600_000 + k as u64);
                    let body = template
                        .replace("__CHECKED_AT__", &humantime::format_rfc3339_millis(at).to_string())
                        .replace("10.0.1.0/24", &format!("10.{}.{}.0/24", k % 100 / 50, k % 50))
                        .replace("eu-west-3a", ["eu-west-3a", "eu-west-3b", "eu-west-3c"][k % 100 % 3]);
                    let r = client
                        .post(format!("{base}/api/v1/runners/{id}/network-readiness"))
                        .bearer_auth(token)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .expect("seed report");
                    assert_eq!(r.status().as_u16(), 201, "seeding runner {k}");
                }
            }));
        }
        for s in seeders {
            s.await.expect("seeder");
        }
    }
    let started = Instant::now();
    let measuring = {
        tokio::spawn(async move {
            tokio::time::sleep(WARMUP).await;
            let start = cpu_ticks();
            tokio::time::sleep(MEASURE).await;
            cpu_ticks() - start
        })
    };
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, base, runners, template, counter) =
            (client.clone(), base.clone(), runners.clone(), template.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while started.elapsed() < WARMUP + MEASURE {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let (id, token) = &runners[(n as usize * 7919) % RUNNERS];
                let at = UNIX_EPOCH + Duration::from_millis(epoch + n);
                // Runners sit in 100 subnets over 3 zones: the fleet view has groups to find.
                let k = (n as usize * 7919) % RUNNERS;
                let body = template
                    .replace("__CHECKED_AT__", &humantime::format_rfc3339_millis(at).to_string())
                    .replace("10.0.1.0/24", &format!("10.{}.{}.0/24", k % 100 / 50, k % 50))
                    .replace("eu-west-3a", ["eu-west-3a", "eu-west-3b", "eu-west-3c"][k % 100 % 3]);
                let t = Instant::now();
                let res = client
                    .post(format!("{base}/api/v1/runners/{id}/network-readiness"))
                    .bearer_auth(token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let took = t.elapsed();
                let ok = matches!(&res, Ok(r) if r.status().as_u16() == 201);
                if started.elapsed() > WARMUP {
                    if ok { latencies.push(took) } else { errors += 1 }
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("task");
        latencies.extend(l);
        errors += e;
    }
    latencies.sort();
    let rate = latencies.len() as f64 / MEASURE.as_secs_f64();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let plane_cpu_ms = measuring.await.expect("cpu") / hz * 1000.0;
    let cpu_per_report = plane_cpu_ms / latencies.len().max(1) as f64;

    // The dashboard's list page and the API list, with 10,000 runners that all reported.
    let mut page = Vec::new();
    let mut api = Vec::new();
    let mut page_bytes = 0;
    for _ in 0..20 {
        let t = Instant::now();
        let r = client.get(format!("{base}/dashboard")).bearer_auth(ADMIN).send().await.expect("dashboard");
        assert_eq!(r.status().as_u16(), 200);
        page_bytes = r.bytes().await.expect("body").len();
        page.push(t.elapsed());
        let t = Instant::now();
        let r = client.get(format!("{base}/api/v1/runners?limit=10000")).bearer_auth(ADMIN).send().await.expect("api");
        let _ = r.bytes().await;
        api.push(t.elapsed());
    }
    page.sort();
    api.sort();
    // The fleet view over the same runners: the API and the page.
    let mut fleet_api = Vec::new();
    let mut fleet_page = Vec::new();
    let mut causes = 0;
    for _ in 0..20 {
        let t = Instant::now();
        let r = client.get(format!("{base}/api/v1/fleet")).bearer_auth(ADMIN).send().await.expect("fleet");
        assert_eq!(r.status().as_u16(), 200);
        let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("fleet JSON");
        fleet_api.push(t.elapsed());
        causes = v["causes"].as_array().map_or(0, |c| c.len());
        let t = Instant::now();
        let r = client.get(format!("{base}/dashboard/fleet")).bearer_auth(ADMIN).send().await.expect("fleet page");
        assert_eq!(r.status().as_u16(), 200);
        let _ = r.bytes().await;
        fleet_page.push(t.elapsed());
    }
    fleet_api.sort();
    fleet_page.sort();
    let _ = Command::new("kill").args(["-TERM", &plane.0.id().to_string()]).status();
    let _ = plane.0.wait();
    let _ = std::thread::spawn(db.cleanup).join();
    format!(
        "| {name} | {RUNNERS} | {CONCURRENCY} | {} | {rate:.0} | {} | {} | {} | {errors} | {cpu_per_report:.3} ms | {} / {} | {} / {} ({} KiB) | {} / {} ({causes} causes) | {} / {} |",
        latencies.len(),
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO)),
        ms(percentile(&api, 0.5)),
        ms(percentile(&api, 0.99)),
        ms(percentile(&page, 0.5)),
        ms(percentile(&page, 0.99)),
        page_bytes / 1024,
        ms(percentile(&fleet_api, 0.5)),
        ms(percentile(&fleet_api, 0.99)),
        ms(percentile(&fleet_page, 0.5)),
        ms(percentile(&fleet_page, 0.99)),
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let mut rows = vec![rt.block_on(run("SQLite", sqlite_db()))];
    match std::env::var("NETREADY_TEST_POSTGRES_URL") {
        Ok(url) => rows.push(rt.block_on(async { run("PostgreSQL", postgres_db(url).await).await })),
        Err(_) => eprintln!("PostgreSQL skipped: set NETREADY_TEST_POSTGRES_URL (scripts/test-postgres.sh start)"),
    }
    println!(
        "| backend | runners | concurrency | reports | reports/s | p50 | p99 | max | errors | plane CPU per report | API list (10,000) p50 / p99 | dashboard list p50 / p99 (page) | fleet API p50 / p99 | fleet page p50 / p99 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}
