//! The container image, built from the repository's Dockerfile with podman and run in the
//! namespace lab: `netready check` in the container reports what the bare binary reports, the
//! agent in the container reports to a plane, passes its HEALTHCHECK, and runs as a non-root user.
//!
//! No registry is reachable, so `deploy/container/build-offline.sh` builds the Dockerfile
//! unchanged, its digest-pinned build stage replaced by the root filesystem
//! `deploy/container/runtime-root.sh` lays out from the debug binary this test was built with (the
//! runtime stage is `scratch`: no base image; the image size in docs/benchmarks.md is measured
//! with the release binary). The image holds nothing but netready: no shell runs in it. Containers run with runc and a CONTAINERS_CONF of the test's own (Debian's
//! crun cannot start containers in every VM), inside the lab's task namespace
//! (`--network ns:/run/netns/<task>`). Every container and image the test created is removed, even
//! when it fails.
//!
//! Needs root, podman, runc, strip and the lab's tools: off CI it says SKIPPED without them;
//! in CI (or with NETREADY_LAB=required) it fails.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use netready_lab::{Lab, LabSpec, Proc, eventually, http_in};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_netready");
const ADMIN: &str = "container-admin-token-0123456789";
const PLANE: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 8080));
/// What the test passes as the repository URL: the OCI source label must carry it.
const SOURCE_URL: &str = "https://git.example.test/netready/netready";
const PROBE_ARGS: [&str; 8] =
    ["--region", "eu-west-3", "--ecr-registry-id", "111122223333", "--public-ip", "false", "--timeout", "1s"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn has(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        || Path::new("/usr/sbin").join(tool).is_file()
}

/// Whether to run: false after saying SKIPPED when the machine cannot and CI does not insist.
fn ready() -> bool {
    if !netready_lab::ready() {
        return false;
    }
    let missing: Vec<&str> = ["podman", "runc", "strip", "readelf", "ldd"].into_iter().filter(|t| !has(t)).collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("the container test needs {}: run scripts/install-test-deps.sh", missing.join(", "));
    if netready_lab::lab_required() {
        panic!("container test required (CI or NETREADY_LAB=required) but {why}");
    }
    netready_lab::record_skip(&why);
    false
}

/// Removes what the test created when dropped, failure or not: containers and the image. Holds
/// the CONTAINERS_CONF directory.
struct Podman {
    dir: PathBuf,
    conf: PathBuf,
    image: String,
    containers: Vec<String>,
}

impl Podman {
    fn new() -> Podman {
        let dir = std::env::temp_dir().join(format!("netready-container-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("containers.conf");
        // runc, and ulimits within this machine's hard limits (containers may not raise them; in
        // this VM an nproc above 32768 fails even below the shell's hard limit, so 4096 at most:
        // plenty for one netready process).
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let limit = |name: &str| -> u64 {
            let hard =
                limits.lines().find(|l| l.starts_with(name)).and_then(|l| l[name.len()..].split_whitespace().nth(1));
            hard.and_then(|h| h.parse().ok()).unwrap_or(4096).min(4096)
        };
        let (nofile, nproc) = (limit("Max open files"), limit("Max processes"));
        std::fs::write(
            &conf,
            format!(
                "[containers]\ndefault_ulimits = [\"nofile={nofile}:{nofile}\", \"nproc={nproc}:{nproc}\"]\n\
                 [engine]\nruntime = \"runc\"\n"
            ),
        )
        .unwrap();
        Podman { dir, conf, image: format!("localhost/netready-test:{}", std::process::id()), containers: Vec::new() }
    }

    fn cmd(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(root()).env("CONTAINERS_CONF", &self.conf);
        cmd
    }

    fn podman(&self, args: &[&str]) -> Output {
        self.cmd("podman").args(args).output().expect("run podman")
    }

    /// Builds the image from the Dockerfile.
    fn build(&mut self) {
        let out = self
            .cmd("deploy/container/build-offline.sh")
            .args([BIN, &self.image])
            .env("SOURCE_URL", SOURCE_URL)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "build-offline.sh failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `podman run` with no network, for what needs none.
    fn run_args_plain(&mut self, name: &str) -> Vec<String> {
        let name = format!("netready-test-{}-{name}", std::process::id());
        self.containers.push(name.clone());
        vec!["run".into(), "--name".into(), name, "--network".into(), "none".into()]
    }

    /// `podman run` in the lab's task namespace, with its resolv.conf and the lab CA (which the
    /// bare binary gets as NETREADY_CA_FILE too), as the bare binary sees it.
    fn run_args(&mut self, lab: &Lab, name: &str) -> Vec<String> {
        let name = format!("netready-test-{}-{name}", std::process::id());
        self.containers.push(name.clone());
        vec![
            "run".into(),
            "--name".into(),
            name,
            "--network".into(),
            format!("ns:/run/netns/{}", lab.task_ns),
            "-v".into(),
            format!("/etc/netns/{}/resolv.conf:/etc/resolv.conf:ro", lab.task_ns),
            "-v".into(),
            format!("{}:/etc/netready/lab-ca.pem:ro", lab.ca_file().display()),
            "-e".into(),
            "NETREADY_CA_FILE=/etc/netready/lab-ca.pem".into(),
        ]
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = self.podman(&["rm", "--force", "--time", "1", c]);
        }
        let _ = self.podman(&["rmi", "--force", &self.image]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// What must agree between two reports: status, and per endpoint its path and reach.
fn essence(report: &Value) -> Value {
    let endpoints: Vec<Value> = report["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let tls: Vec<&Value> = e["connections"].as_array().unwrap().iter().map(|c| &c["tls"]["outcome"]).collect();
            serde_json::json!([
                e["service"],
                e["host"],
                e["access_type"],
                e["reachability"],
                e["dns"]["addresses"],
                tls
            ])
        })
        .collect();
    serde_json::json!({"status": report["status"], "endpoints": endpoints})
}

#[test]
fn the_image_checks_and_reports_like_the_binary_as_a_non_root_user() {
    if !ready() {
        return;
    }
    let mut podman = Podman::new();
    podman.build();
    let image = podman.image.clone();

    // The image's metadata: entry point, non-root user, health check, OCI labels.
    let out = podman.podman(&["image", "inspect", &image]);
    assert!(out.status.success(), "{}", text(&out));
    let inspect: Value = serde_json::from_slice(&out.stdout).unwrap();
    let config = &inspect[0]["Config"];
    assert_eq!(config["Entrypoint"], serde_json::json!(["netready"]), "{config:#}");
    assert_eq!(config["User"], "10001:10001");
    assert_eq!(inspect[0]["Healthcheck"]["Test"], serde_json::json!(["CMD", "netready", "healthcheck"]));
    for label in ["source", "version", "licenses"] {
        let key = format!("org.opencontainers.image.{label}");
        assert!(config["Labels"][&key].as_str().is_some_and(|v| !v.is_empty()), "no {key}: {config:#}");
    }
    assert_eq!(config["Labels"]["org.opencontainers.image.source"], SOURCE_URL, "the build argument, as given");

    // Nothing but netready: the root filesystem is the binary (static; with its loader and
    // libraries when built with a shared glibc), the CA bundle, nsswitch.conf and /tmp; no shell.
    // The same run with netready as the entry point works: what fails is the shell's absence.
    let mut args = podman.run_args_plain("version");
    args.extend([image.clone(), "--version".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = podman.podman(&args);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("netready "), "{}", text(&out));
    let mut args = podman.run_args_plain("no-shell");
    args.extend(["--entrypoint".into(), "/bin/sh".into(), image.clone(), "-c".into(), "true".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = podman.podman(&args);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("/bin/sh"),
        "a shell ran in the image, or it failed for another reason: {}",
        text(&out)
    );

    let lab = Lab::build(LabSpec::interface_endpoints()).unwrap();

    // 1. The same check, bare and in the container.
    let bare = lab.task_command(BIN.as_ref()).args(["check", "--output", "json"]).args(PROBE_ARGS).output().unwrap();
    let mut args = podman.run_args(&lab, "check");
    args.extend([image.clone(), "check".into(), "--output".into(), "json".into()]);
    args.extend(PROBE_ARGS.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let contained = podman.podman(&args);
    assert_eq!(contained.status.code(), bare.status.code(), "container:\n{}\nbare:\n{}", text(&contained), text(&bare));
    assert_eq!(contained.status.code(), Some(0), "{}", text(&contained));
    let parse = |o: &Output| -> Value {
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
    };
    let (bare, contained) = (parse(&bare), parse(&contained));
    assert_eq!(essence(&contained), essence(&bare), "container:\n{contained:#}\nbare:\n{bare:#}");
    assert_eq!(contained["status"], "ready");

    // 2. The agent in the container reports to a plane (bare, in the same namespace).
    let dir = podman.dir.clone();
    let db = dir.join("plane.db").display().to_string();
    let (id, token) = netready_lab::runner_add(BIN.as_ref(), &db, "container-runner");
    let mut cmd = lab.task_command(BIN.as_ref());
    cmd.args(["plane", "serve", "--database", &db, "--listen", "127.0.0.1:8080"]).env("NETREADY_ADMIN_TOKEN", ADMIN);
    let plane = Proc::spawn(cmd, "plane").unwrap();
    let up = eventually(Duration::from_secs(10), || {
        http_in(&lab.task_ns, PLANE, "GET", "/healthz", &[], b"").ok().filter(|(s, _)| *s == 200)
    });
    assert!(up.is_some(), "the plane did not start: {:?}", plane.output());

    let mut args = podman.run_args(&lab, "agent");
    let agent_name = args[2].clone();
    // The token goes in through podman's environment (`-e NAME`), not its command line.
    args.extend(["--detach".into(), "-e".into(), "NETREADY_RUNNER_TOKEN".into(), image.clone(), "agent".into()]);
    args.extend(
        ["--plane-url", "http://127.0.0.1:8080", "--runner-id", &id, "--interval", "1s", "--listen", "127.0.0.1:9464"]
            .iter()
            .map(|s| (*s).to_owned()),
    );
    args.extend(PROBE_ARGS.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = podman.cmd("podman").args(&args).env("NETREADY_RUNNER_TOKEN", &token).output().unwrap();
    assert!(out.status.success(), "podman run agent: {}", text(&out));

    let auth = format!("Bearer {ADMIN}");
    let view = eventually(Duration::from_secs(20), || {
        let (status, body) =
            http_in(&lab.task_ns, PLANE, "GET", &format!("/api/v1/runners/{id}"), &[("Authorization", &auth)], b"")
                .ok()?;
        let v: Value = serde_json::from_str(&body).ok()?;
        (status == 200 && v["report"].is_object()).then_some(v)
    });
    let logs = || text(&podman.podman(&["logs", &agent_name]));
    let view = view.unwrap_or_else(|| panic!("no report from the containerised agent:\n{}", logs()));
    assert_eq!(view["runner"]["readiness"], "ready", "{view:#}");

    // 3. Its HEALTHCHECK (netready healthcheck → /healthz) passes.
    let health = podman.podman(&["healthcheck", "run", &agent_name]);
    assert!(health.status.success(), "healthcheck: {}\nagent:\n{}", text(&health), logs());

    // 4. The agent process runs as uid 10001, not root.
    let out = podman.podman(&["inspect", "--format", "{{.State.Pid}}", &agent_name]);
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_else(|e| panic!("pid {pid}: {e}"));
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let uids: Vec<&str> = uid_line.split_whitespace().skip(1).collect();
    assert!(uids.iter().all(|u| *u == "10001"), "the agent runs as {uid_line}");

    drop(plane);
    drop(lab);
}

/// Without a repository URL the offline build refuses, naming what to set (the Dockerfile's build
/// stage does the same for `--build-arg SOURCE_URL`): the source label is never a placeholder.
#[test]
fn the_offline_build_requires_the_repository_url() {
    let out = Command::new(root().join("deploy/container/build-offline.sh"))
        .args([BIN, "localhost/netready-test:never"])
        .env_remove("SOURCE_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set SOURCE_URL=https://"), "{}", text(&out));
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(!dockerfile.contains("example.invalid"), "a placeholder source label in the Dockerfile");
}

/// Every image the Dockerfile builds from is pinned by digest (a tag can move), or is `scratch`.
#[test]
fn the_dockerfile_pins_its_images_by_digest() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let args: Vec<(&str, &str)> = dockerfile.lines().filter_map(|l| l.strip_prefix("ARG ")?.split_once('=')).collect();
    let froms: Vec<&str> =
        dockerfile.lines().filter_map(|l| l.strip_prefix("FROM ")?.split_whitespace().next()).collect();
    assert_eq!(froms.len(), 2, "a build and a runtime stage: {froms:?}");
    for from in froms {
        let image = match from.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
            Some(arg) => {
                args.iter().find(|(k, _)| *k == arg).map(|(_, v)| *v).unwrap_or_else(|| panic!("{from}: no default"))
            }
            None => from,
        };
        let pinned = image
            .split_once("@sha256:")
            .is_some_and(|(_, d)| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(image == "scratch" || pinned, "FROM {image}: pin it by digest (image@sha256:…)");
    }
}
