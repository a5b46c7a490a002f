//! Benchmark of one `netready check` in the namespace VPC lab (needs root):
//! - wall time with one endpoint black-holed (iptables DROP), as a ratio to the per-endpoint
//!   deadline: the goal is ≤ 1.01, since endpoints are probed in parallel under one deadline;
//! - CPU time (user + system) and peak resident memory of one check, healthy and black-holed;
//! - a cold `netready check` beside a warm blackbox_exporter (Debian prometheus-blackbox-exporter)
//!   probing the same five endpoints at once, the order rotating round by round, as a ratio.
//!
//! The check is started as a process started in a running container is (`Task`): it joins the
//! task's network and mount namespaces, held by a process sleeping in them.
//!
//! Run: `sudo cargo bench -p netready --bench check` (see docs/benchmarks.md).

#![allow(unsafe_code)] // wait4(2), for the child's own CPU time and peak memory; setns(2) before exec.

use std::process::Stdio;
use std::time::{Duration, Instant};

use netready_lab::{Lab, LabSpec};

const BIN: &str = env!("CARGO_BIN_EXE_netready");
const RUNS: usize = 10;

struct Sample {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: i64,
    code: i32,
}

fn run_once(task: &Task, timeout: &str, extra: &[&str]) -> Sample {
    run_bin(task, BIN.as_ref(), timeout, extra, &[])
}

/// The task as a container runtime leaves it before it starts a process in it: the network
/// namespace, and a mount namespace with the namespace's `resolv.conf` over `/etc/resolv.conf`,
/// both held by a process sleeping in them. Each check joins them (`setns`) — what a process
/// started in a running container does — and pays neither `ip netns exec` (1.6 ms, in every
/// netready figure until 2026-12-03 and none of the exporter's) nor a mount namespace made for it
/// (0.2–0.3 ms, in the figures of 2026-12-03 19:25–20:20; measured with `perf stat -r 100`,
/// `unshare -m /bin/true` against `env /bin/true`).
struct Task {
    /// The lab's environment for the task (the lab CA for TLS).
    env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    net: std::fs::File,
    mnt: std::fs::File,
    holder: netready_lab::Proc,
}

impl Task {
    fn new(lab: &Lab) -> Task {
        let env = lab
            .task_command("/bin/true".as_ref())
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
            .collect();
        let mut sleep = lab.task_command("sleep".as_ref());
        sleep.arg("3600");
        let holder = netready_lab::Proc::spawn(sleep, "task-namespaces").expect("hold the task's namespaces");
        let pid = holder.child.id();
        let ours = std::fs::read_link("/proc/self/ns/mnt").expect("our mount namespace");
        // `ip netns exec` makes the mount namespace, then becomes `sleep`.
        netready_lab::eventually(Duration::from_secs(5), || {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let mnt = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok()?;
            (comm.trim() == "sleep" && mnt != ours).then_some(())
        })
        .expect("the task's namespaces held");
        let open = |ns: &str| std::fs::File::open(format!("/proc/{pid}/ns/{ns}")).expect("a namespace of the task");
        Task { env, net: open("net"), mnt: open("mnt"), holder }
    }

    /// `program`, to be started in the task's namespaces with the lab's environment.
    fn command(&self, program: &std::path::Path) -> std::process::Command {
        use std::os::fd::AsRawFd as _;
        use std::os::unix::process::CommandExt as _;
        let mut cmd = std::process::Command::new(program);
        cmd.env_clear().envs(self.env.iter().map(|(k, v)| (k, v)));
        let (net, mnt) = (self.net.as_raw_fd(), self.mnt.as_raw_fd());
        // SAFETY: between fork and exec only setns(2) runs, on descriptors opened before the fork
        // and kept open by `self`.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(net, libc::CLONE_NEWNET) != 0 || libc::setns(mnt, libc::CLONE_NEWNS) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }
}

/// One cold check by `bin` in the task's namespaces, with `env` added to the lab's environment.
fn run_bin(task: &Task, bin: &std::path::Path, timeout: &str, extra: &[&str], env: &[(&str, &str)]) -> Sample {
    let mut cmd = task.command(bin);
    cmd.args(["check", "--region", "eu-west-3", "--ecr-registry-id", "111122223333", "--output", "json"])
        .args(["--timeout", timeout])
        .args(extra)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    #[allow(clippy::zombie_processes)] // reaped by wait4 below
    let child = cmd.spawn().expect("spawn netready");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: pid is our child, not yet waited for; status and usage are valid pointers.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(rc, pid, "wait4: {}", std::io::Error::last_os_error());
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    Sample {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss,
        code: libc::WEXITSTATUS(status),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; there is nothing to list.
    }
    if let Some(why) = netready_lab::lab_unavailable() {
        eprintln!("SKIPPED: {why}; the check benchmark needs the namespace lab");
        return;
    }
    let lab =
        Lab::build(LabSpec { metadata: Some(metadata()), ..LabSpec::interface_endpoints() }).expect("build the lab");
    let task = Task::new(&lab);
    if let Some(script) = std::env::var_os("NETREADY_BENCH_HOLD") {
        hold(&task, script.as_ref());
        return;
    }
    if let Ok(bins) = std::env::var("NETREADY_BENCH_COMPARE") {
        compare(&lab, &task, &bins);
        return;
    }
    println!(
        "| case | deadline | runs | wall median | wall max | ratio (max / deadline) | CPU median | CPU max | peak RSS max |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let report = |case: &str, timeout: &str, deadline: Duration, expect_code: i32, extra: &[&str]| {
        let samples: Vec<Sample> = (0..RUNS).map(|_| run_once(&task, timeout, extra)).collect();
        assert!(samples.iter().all(|s| s.code == expect_code), "unexpected exit code in {case}");
        let wall_max = samples.iter().map(|s| s.wall).max().unwrap_or_default();
        let cpu_max = samples.iter().map(|s| s.cpu).max().unwrap_or_default();
        let rss = samples.iter().map(|s| s.max_rss_kib).max().unwrap_or_default();
        println!(
            "| {case} | {timeout} | {RUNS} | {:.1} ms | {:.1} ms | {:.3} | {:.2} ms | {:.2} ms | {:.1} MiB |",
            median(samples.iter().map(|s| s.wall).collect()).as_secs_f64() * 1e3,
            wall_max.as_secs_f64() * 1e3,
            wall_max.as_secs_f64() / deadline.as_secs_f64(),
            median(samples.iter().map(|s| s.cpu).collect()).as_secs_f64() * 1e3,
            cpu_max.as_secs_f64() * 1e3,
            rss as f64 / 1024.0,
        );
    };
    let tcp_only: &[&str] = &["--tls", "false"];
    report("healthy, TCP only (--tls false)", "5s", Duration::from_secs(5), 0, tcp_only);
    report("healthy, TCP + TLS", "5s", Duration::from_secs(5), 0, &[]);
    {
        let uri = lab.metadata_uri();
        let env = [("ECS_CONTAINER_METADATA_URI_V4", uri.as_str())];
        let samples: Vec<Sample> = (0..RUNS).map(|_| run_bin(&task, BIN.as_ref(), "5s", &[], &env)).collect();
        assert!(samples.iter().all(|s| s.code == 0), "unexpected exit code with task metadata");
        println!(
            "| healthy, TCP + TLS, with task metadata | 5s | {RUNS} | {:.1} ms | {:.1} ms | {:.3} | {:.2} ms | {:.2} ms | {:.1} MiB |",
            median(samples.iter().map(|s| s.wall).collect()).as_secs_f64() * 1e3,
            samples.iter().map(|s| s.wall).max().unwrap_or_default().as_secs_f64() * 1e3,
            samples.iter().map(|s| s.wall).max().unwrap_or_default().as_secs_f64() / 5.0,
            median(samples.iter().map(|s| s.cpu).collect()).as_secs_f64() * 1e3,
            samples.iter().map(|s| s.cpu).max().unwrap_or_default().as_secs_f64() * 1e3,
            samples.iter().map(|s| s.max_rss_kib).max().unwrap_or_default() as f64 / 1024.0,
        );
    }
    // The comparison with blackbox_exporter, order rotating round by round (as with builds side by side).
    compare(&lab, &task, &format!("netready={BIN}"));
    lab.iptables(&lab.vpc_ns, &["-A", "INPUT", "-d", "10.0.2.11", "-p", "tcp", "--dport", "443", "-j", "DROP"])
        .expect("black-hole logs");
    for (timeout, deadline) in
        [("1s", Duration::from_secs(1)), ("2s", Duration::from_secs(2)), ("5s", Duration::from_secs(5))]
    {
        report("logs black-holed (TCP), TLS on", timeout, deadline, 1, &[]);
    }
    lab.iptables(&lab.vpc_ns, &["-F", "INPUT"]).expect("heal");
    lab.filter_sni("logs.eu-west-3.amazonaws.com", false).expect("SNI filter");
    report("logs ClientHello dropped (SNI filter)", "2s", Duration::from_secs(2), 1, &[]);
    lab.iptables(&lab.vpc_ns, &["-F", "INPUT"]).expect("heal");
    lab.iptables(&lab.vpc_ns, &["-F", "FORWARD"]).expect("heal");
    agent(&lab, BIN.as_ref(), "interval 1s, 5 endpoints, reporting to a plane");
}

/// The task metadata samples, moved into the lab's VPC and region (as the lab tests do).
fn metadata() -> (String, String) {
    let fix = |s: &str| {
        s.replace("192.0.2.3", "10.0.1.10").replace("192.0.2.0/24", "10.0.1.0/24").replace("us-west-2", "eu-west-3")
    };
    (
        fix(include_str!("../../../tests/fixtures/tmds-v4-fargate-task.json")),
        fix(include_str!("../../../tests/fixtures/tmds-v4-fargate-container.json")),
    )
}

/// A compared case: its name, the exporter's module, the check's extra flags and environment.
type Case<'a> = (&'a str, &'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);

/// Builds of netready side by side (`NETREADY_BENCH_COMPARE=name=path,name=path`, the binaries
/// kept from earlier builds): cold checks alternating between them and one warm blackbox_exporter
/// round, `NETREADY_BENCH_ROUNDS` rounds (default 41), each case. Medians, and each binary's
/// median over the exporter's. For measuring one change at a time under the same load.
fn compare(lab: &Lab, task: &Task, bins: &str) {
    let bins: Vec<(&str, &str)> = bins.split(',').filter_map(|b| b.split_once('=')).collect();
    let rounds: usize = std::env::var("NETREADY_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(41);
    if std::env::var_os("NETREADY_BENCH_AGENT").is_some() {
        for (name, path) in &bins {
            agent(lab, path.as_ref(), name);
        }
        return;
    }
    let exporter = Blackbox::start(lab, task);
    let uri = lab.metadata_uri();
    let with_meta = [("ECS_CONTAINER_METADATA_URI_V4", uri.as_str())];
    println!(
        "| case | binary | rounds | wall median | wall p25–p75 | CPU median | peak RSS median | blackbox median | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let cases: [Case<'_>; 3] = [
        ("TCP + TLS", "tls", &[], &[]),
        ("TCP only", "tcp", &["--tls", "false"], &[]),
        ("TCP + TLS, task metadata", "tls", &[], &with_meta),
    ];
    for (case, module, extra, env) in cases {
        let mut bb = Vec::new();
        let mut runs: Vec<Vec<Sample>> = bins.iter().map(|_| Vec::new()).collect();
        if let Some(e) = &exporter {
            for _ in 0..3 {
                e.probe_all(module);
            }
        }
        // Each round runs the exporter and every binary once, in an order that rotates from round
        // to round, so that none always runs first or right after another.
        let slots = bins.len() + 1;
        for round in 0..rounds {
            for k in 0..slots {
                match (round + k) % slots {
                    0 => {
                        if let Some(e) = &exporter {
                            bb.push(e.probe_all(module));
                        }
                    }
                    i => {
                        let path = bins[i - 1].1;
                        let s = run_bin(task, path.as_ref(), "5s", extra, env);
                        assert_eq!(s.code, 0, "{path} in {case}");
                        runs[i - 1].push(s);
                    }
                }
            }
        }
        let bb = (!bb.is_empty()).then(|| median(bb));
        for ((name, _), samples) in bins.iter().zip(runs) {
            let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
            walls.sort();
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            let wall = walls[walls.len() / 2];
            let mut rss: Vec<i64> = samples.iter().map(|s| s.max_rss_kib).collect();
            rss.sort();
            println!(
                "| {case} | {name} | {rounds} | {:.2} ms | {:.2}–{:.2} ms | {:.2} ms | {:.1} MiB | {} | {} |",
                ms(wall),
                ms(walls[walls.len() / 4]),
                ms(walls[walls.len() * 3 / 4]),
                ms(median(samples.iter().map(|s| s.cpu).collect())),
                rss[rss.len() / 2] as f64 / 1024.0,
                bb.map_or("-".to_owned(), |b| format!("{:.2} ms", ms(b))),
                bb.map_or("-".to_owned(), |b| format!("{:.2}", wall.as_secs_f64() / b.as_secs_f64())),
            );
        }
    }
}

/// For profiling by hand (`NETREADY_BENCH_HOLD=/tmp/in-lab`): writes a script that runs its
/// arguments in the task namespace with the environment the bench gives the check, and keeps the
/// lab up until the script is deleted.
fn hold(task: &Task, script: &std::path::Path) {
    let env: Vec<String> =
        task.env.iter().filter_map(|(k, v)| Some(format!("{}={}", k.to_str()?, v.to_str()?))).collect();
    let pid = task.holder.child.id();
    let text = format!("#!/bin/sh\nexec nsenter --target {pid} --net --mount env -i {} \"$@\"\n", env.join(" "));
    std::fs::write(script, text).expect("write the hold script");
    let _ = std::process::Command::new("chmod").arg("+x").arg(script).status();
    println!("lab up: run commands in it with {}; delete it to end", script.display());
    while script.exists() {
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The agent's footprint: resident memory and CPU per check, over a run of checks every second,
/// each reported to a plane (in the same namespace).
fn agent(lab: &Lab, bin: &std::path::Path, case: &str) {
    use netready_lab::{Proc, eventually, http_in};
    let dir = std::env::temp_dir().join(format!("netready-agent-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let db = dir.join("plane.db").display().to_string();
    let (id, token) = netready_lab::runner_add(BIN.as_ref(), &db, "bench");
    let mut plane = lab.task_command(BIN.as_ref());
    plane
        .args(["plane", "serve", "--database", &db, "--listen", "127.0.0.1:8080"])
        .env("NETREADY_ADMIN_TOKEN", "bench-admin-token-0123456789");
    let _plane = Proc::spawn(plane, "plane").expect("plane");
    let plane_addr = "127.0.0.1:8080".parse().expect("addr");
    eventually(Duration::from_secs(10), || {
        http_in(&lab.task_ns, plane_addr, "GET", "/healthz", &[], b"").ok().filter(|(s, _)| *s == 200)
    })
    .expect("plane up");
    let mut cmd = lab.task_command(bin);
    cmd.args(["agent", "--plane-url", "http://127.0.0.1:8080", "--runner-id", &id, "--interval", "1s"])
        .args(["--listen", "127.0.0.1:9464", "--region", "eu-west-3", "--ecr-registry-id", "111122223333"])
        .env("NETREADY_RUNNER_TOKEN", &token);
    let agent = Proc::spawn(cmd, "agent").expect("agent");
    let pid = agent.child.id();
    let status = |key: &str| -> f64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix(key).map(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().unwrap_or(0.0))
            })
            .unwrap_or(0.0)
    };
    let cpu_ticks = || -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
        let field = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        field(11) + field(12) // utime, stime
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let agent_addr = "127.0.0.1:9464".parse().expect("addr");
    let metrics = || http_in(&lab.task_ns, agent_addr, "GET", "/metrics", &[], b"").map(|(_, m)| m).unwrap_or_default();
    let checks = || -> f64 {
        metrics()
            .lines()
            .filter(|l| l.starts_with("netready_checks_total{"))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum()
    };
    eventually(Duration::from_secs(10), || (checks() >= 2.0).then_some(())).expect("agent checking");
    let (c0, t0) = (checks(), cpu_ticks());
    std::thread::sleep(Duration::from_secs(30));
    let (c1, t1) = (checks(), cpu_ticks());
    let stored = metrics()
        .lines()
        .find(|l| l.starts_with("netready_report_deliveries_total{outcome=\"stored\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or("?")
        .to_owned();
    println!();
    println!(
        "| agent | checks measured | reports stored by the plane (whole run) | CPU per check (incl. delivery) | RSS now | of which anonymous / file | peak RSS (VmHWM) | threads |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {case} | {} | {stored} | {:.2} ms | {:.1} MiB | {:.1} / {:.1} MiB | {:.1} MiB | {} |",
        c1 - c0,
        (t1 - t0) / hz * 1000.0 / (c1 - c0).max(1.0),
        status("VmRSS:") / 1024.0,
        status("RssAnon:") / 1024.0,
        status("RssFile:") / 1024.0,
        status("VmHWM:") / 1024.0,
        status("Threads:"),
    );
    drop(agent);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The five endpoints' host names and port, as blackbox_exporter targets.
const TARGETS: [&str; 5] = [
    "secretsmanager.eu-west-3.amazonaws.com:443",
    "logs.eu-west-3.amazonaws.com:443",
    "api.ecr.eu-west-3.amazonaws.com:443",
    "111122223333.dkr.ecr.eu-west-3.amazonaws.com:443",
    "s3.eu-west-3.amazonaws.com:443",
];

/// A warm blackbox_exporter in the task namespace: its tcp prober, with `tls: true` and the lab CA
/// for the TLS module, asked for the five endpoints at once, as a Prometheus scrape would.
struct Blackbox {
    _exporter: netready_lab::Proc,
    dir: std::path::PathBuf,
    /// One scraper thread per target, already in the task's network namespace, so that a round
    /// times the five scrapes alone (not a thread's start and setns(2) before each).
    scrapers: Vec<Scraper>,
}

/// A thread in the task's network namespace that scrapes `/probe?module=<m>&target=<its target>`
/// when sent a module, and answers with the body.
struct Scraper {
    ask: std::sync::mpsc::Sender<String>,
    answer: std::sync::mpsc::Receiver<std::io::Result<String>>,
}

impl Scraper {
    fn start(task: &Task, target: &'static str) -> Scraper {
        use std::os::fd::AsRawFd as _;
        let (ask, asked) = std::sync::mpsc::channel::<String>();
        let (answered, answer) = std::sync::mpsc::channel();
        let net = task.net.try_clone().expect("the task's network namespace");
        std::thread::spawn(move || {
            // SAFETY: setns on a valid namespace descriptor; it affects this thread only.
            assert_eq!(unsafe { libc::setns(net.as_raw_fd(), libc::CLONE_NEWNET) }, 0, "setns");
            let addr: std::net::SocketAddr = Blackbox::ADDR.parse().expect("addr");
            for module in asked {
                let path = format!("/probe?module={module}&target={target}");
                let body = netready_lab::http(addr, "GET", &path, &[], b"").map(|(_, body)| body);
                if answered.send(body).is_err() {
                    return;
                }
            }
        });
        Scraper { ask, answer }
    }
}

impl Blackbox {
    const EXPORTER: &str = "prometheus-blackbox-exporter";
    const ADDR: &str = "127.0.0.1:9115";

    /// Started and answering, or `None` (said so) without the Debian package.
    fn start(lab: &Lab, task: &Task) -> Option<Blackbox> {
        use netready_lab::{Proc, eventually, http_in};
        let on_path = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(Self::EXPORTER).is_file()));
        if !on_path {
            println!("\nSKIPPED the blackbox_exporter comparison: no {0} (Debian package {0})", Self::EXPORTER);
            return None;
        }
        let dir = std::env::temp_dir().join(format!("netready-blackbox-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let config = dir.join("blackbox.yml");
        let module = |tls: bool| {
            let tls = if tls {
                format!("\n      tls: true\n      tls_config:\n        ca_file: {}", lab.ca_file().display())
            } else {
                String::new()
            };
            format!(
                "    prober: tcp\n    timeout: 5s\n    tcp:\n      preferred_ip_protocol: ip4\n      ip_protocol_fallback: false{tls}\n"
            )
        };
        std::fs::write(&config, format!("modules:\n  tls:\n{}  tcp:\n{}", module(true), module(false)))
            .expect("config");
        let mut cmd = lab.task_command(Self::EXPORTER.as_ref());
        cmd.arg(format!("--config.file={}", config.display())).arg(format!("--web.listen-address={}", Self::ADDR));
        let exporter = Proc::spawn(cmd, "blackbox").expect("blackbox_exporter");
        let addr = Self::ADDR.parse().expect("addr");
        eventually(Duration::from_secs(10), || {
            http_in(&lab.task_ns, addr, "GET", "/-/healthy", &[], b"").ok().filter(|(s, _)| *s == 200)
        })
        .unwrap_or_else(|| panic!("blackbox_exporter did not start: {:?}", exporter.output()));
        let scrapers = TARGETS.iter().map(|target| Scraper::start(task, target)).collect();
        Some(Blackbox { _exporter: exporter, dir, scrapers })
    }

    /// The five endpoints probed at once with `module`, as a scrape of each; every probe must
    /// succeed.
    fn probe_all(&self, module: &str) -> Duration {
        let started = Instant::now();
        for s in &self.scrapers {
            s.ask.send(module.to_owned()).expect("scraper thread");
        }
        for s in &self.scrapers {
            let body = s.answer.recv().expect("scraper thread").unwrap_or_default();
            assert!(body.lines().any(|l| l == "probe_success 1"), "blackbox_exporter probe failed:\n{body}");
        }
        started.elapsed()
    }
}

impl Drop for Blackbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
