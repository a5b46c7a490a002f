//! The check and the agent with the AWS API: in the namespace lab, with moto's server as AWS.
//!
//! moto runs inside the lab's VPC namespace (at 10.0.0.9:5000), which the task namespace reaches
//! the way a task reaches AWS; all traffic stays inside the lab's namespaces. Each test builds, in
//! moto, the VPC the lab's network stands for (`tests/moto/scenario.py`), points the lab's DNS at
//! the scenario's addresses and serves task metadata naming moto's task; then the real binary
//! runs in the task namespace with `AWS_ENDPOINT_URL` at moto. The check's results come from the
//! lab's real network; the routes, refined access types and findings from what moto says.
//!
//! Needs root and moto: without them the tests say SKIPPED; in CI (or NETREADY_LAB=required)
//! they fail instead.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Output;
use std::time::{Duration, Instant};

use netready_lab::browser::Browser;
use netready_lab::moto::Moto;
use netready_lab::{Egress, Lab, LabSpec, Proc, TempDir, eventually, http_in};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_netready");
const REGION: &str = "eu-west-3";
/// moto's account: its task ARNs, and so the ECR Docker host the check probes.
const ACCOUNT: &str = "123456789012";
/// Where moto listens, in the lab's VPC namespace.
const MOTO_IP: &str = "10.0.0.9";
const MOTO_PORT: u16 = 5000;
const ADMIN: &str = "aws-lab-admin-token-0123456789";
const SERVICES: [&str; 5] = ["secretsmanager", "logs", "ecr_api", "ecr_dkr", "s3"];

fn host(service: &str) -> String {
    match service {
        "secretsmanager" => format!("secretsmanager.{REGION}.amazonaws.com"),
        "logs" => format!("logs.{REGION}.amazonaws.com"),
        "ecr_api" => format!("api.ecr.{REGION}.amazonaws.com"),
        "ecr_dkr" => format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"),
        "s3" => format!("s3.{REGION}.amazonaws.com"),
        other => panic!("unknown service {other}"),
    }
}

/// The lab's five names, at placeholder addresses (the scenario's replace them): every name is
/// in the listeners' certificate from the start.
fn spec(egress: Egress) -> LabSpec {
    let mut spec = LabSpec { egress, ..LabSpec::default() };
    for (i, service) in SERVICES.iter().enumerate() {
        spec = spec.endpoint(&host(service), &[&format!("203.0.113.{}", 30 + i)]);
    }
    spec
}

/// A lab with moto inside, the scenario built and the lab's DNS and task metadata following it.
/// Fields drop in order: moto before the lab whose namespace it runs in.
struct AwsLab {
    moto: Moto,
    lab: Lab,
    scenario: Value,
}

fn aws_lab(egress: Egress, scenario: &str) -> Option<AwsLab> {
    if !netready_lab::ready() {
        return None;
    }
    let mut lab = Lab::build(spec(egress)).unwrap_or_else(|e| panic!("cannot build the lab: {e}"));
    lab.ns(&lab.vpc_ns, &["ip", "addr", "add", &format!("{MOTO_IP}/32"), "dev", "lo"]).unwrap();
    let moto = match Moto::start_in(&lab.vpc_ns, MOTO_IP, MOTO_PORT) {
        Ok(m) => m,
        Err(why) => {
            netready_lab::moto::or_skip(&Err(why));
            return None;
        }
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/moto/scenario.py");
    let out = moto.scenario(std::path::Path::new(script), scenario, &[]).unwrap_or_else(|e| panic!("{e}"));
    let s: Value = serde_json::from_str(&out).unwrap();
    let task_arn = s["task_arn"].as_str().unwrap();
    assert!(task_arn.contains(&format!(":{ACCOUNT}:")), "moto's account changed: {task_arn}");
    lab.set_metadata(task_document(task_arn), container_document()).unwrap();
    for service in SERVICES {
        let address = s["addresses"][service].as_str().unwrap();
        lab.set_dns(&host(service), &[address]).unwrap();
    }
    Some(AwsLab { moto, lab, scenario: s })
}

fn networks() -> Value {
    json!([{"NetworkMode": "awsvpc", "IPv4Addresses": ["10.0.1.10"], "IPv4SubnetCIDRBlock": "10.0.1.0/24"}])
}

fn task_document(task_arn: &str) -> String {
    let cluster = task_arn.split('/').nth(1).unwrap_or("default");
    json!({
        "Cluster": cluster,
        "TaskARN": task_arn,
        "AvailabilityZone": format!("{REGION}a"),
        "Containers": [{"Name": "runner", "Networks": networks()}],
    })
    .to_string()
}

fn container_document() -> String {
    json!({"Name": "runner", "Networks": networks()}).to_string()
}

impl AwsLab {
    /// The binary in the task namespace as a task with a task role runs it: task metadata, the
    /// AWS API at moto, credentials in the environment.
    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = self.lab.task_command(BIN.as_ref());
        cmd.args(args)
            .env("ECS_CONTAINER_METADATA_URI_V4", self.lab.metadata_uri())
            .env("AWS_ENDPOINT_URL", &self.moto.url)
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        cmd
    }

    fn s(&self, key: &str) -> &str {
        self.scenario[key].as_str().unwrap_or_else(|| panic!("no {key} in {:#}", self.scenario))
    }
}

struct Run {
    code: i32,
    report: Value,
    stdout: String,
    elapsed: Duration,
}

fn check(aws: &AwsLab, args: &[&str]) -> Run {
    let started = Instant::now();
    let Output { status, stdout, stderr } =
        aws.command(&["check", "--output", "json"]).args(args).output().expect("run netready");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\n{}", String::from_utf8_lossy(&stderr)));
    assert_valid(&report);
    Run { code: status.code().unwrap_or(-1), report, stdout, elapsed }
}

fn assert_valid(report: &Value) {
    let schema: Value = serde_json::from_str(netready_check::report::SCHEMA_V4).unwrap();
    let validator = jsonschema::options().should_validate_formats(true).build(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(report).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "report does not match schema/report-v4.schema.json: {errors:#?}\n{report:#}");
}

fn endpoint<'a>(report: &'a Value, service: &str) -> &'a Value {
    report["endpoints"].as_array().unwrap().iter().find(|e| e["service"] == service).unwrap()
}

fn access_types(report: &Value) -> Vec<String> {
    report["endpoints"].as_array().unwrap().iter().map(|e| e["access_type"].as_str().unwrap().to_owned()).collect()
}

fn finding<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["diagnosis"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no finding {id} in {:#}", report["diagnosis"]))
}

#[test]
fn the_check_sees_the_s3_gateway_endpoint_and_the_logs_endpoints_security_group() {
    let Some(aws) = aws_lab(Egress::Nat, "lab") else { return };
    let run = check(&aws, &[]);
    let r = &run.report;
    // Every endpoint is reachable in the lab: ready, whatever the findings say.
    assert_eq!((run.code, r["status"].as_str()), (0, Some("ready")), "{}", run.stdout);
    assert_eq!(access_types(r), ["vpc_endpoint", "vpc_endpoint", "vpc_endpoint", "vpc_endpoint", "gateway_endpoint"]);

    let s3 = &endpoint(r, "s3")["connections"][0];
    assert_eq!(s3["ip"], aws.scenario["addresses"]["s3"]);
    assert_eq!(
        s3["route"],
        json!({
            "route_table_id": aws.s("route_table"),
            "destination": aws.s("s3_prefix_list"),
            "target_id": aws.s("s3_endpoint"),
            "target_type": "vpc_endpoint",
            "state": "active",
        })
    );
    assert_eq!(s3["access_type"], "gateway_endpoint");
    assert_eq!(endpoint(r, "s3")["hints"], json!([]), "no guessing about a gateway endpoint: it is known");
    let logs = &endpoint(r, "logs")["connections"][0];
    assert_eq!(
        (logs["route"]["destination"].as_str(), logs["route"]["target_id"].as_str()),
        (Some("10.0.0.0/16"), Some("local"))
    );

    let d = &r["diagnosis"];
    assert_eq!((d["status"].as_str(), d["mode"].as_str()), (Some("ok"), Some("auto")), "{d:#}");
    assert_eq!(d["network"]["eni_id"], aws.s("eni"));
    assert_eq!(d["network"]["vpc_id"], aws.s("vpc"));
    assert_eq!(d["network"]["route_table_id"], aws.s("route_table"));
    assert_eq!(d["network"]["vpc_cidrs"], json!(["10.0.0.0/16"]));
    assert_eq!(r["task"]["public_ip"], json!({"assigned": false, "address": null, "source": "ec2"}));
    // The logs endpoint's group admits another subnet only, and the task's traffic uses it.
    let f = finding(r, "vpc_endpoint.ingress_denied");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["resources"], json!([aws.scenario["endpoints"]["logs"], aws.s("logs_sg")]));
    assert_eq!(f["endpoints"], json!(["logs"]));
    // The lab's network does not enforce security groups: the check reached what the configuration
    // blocks, and says the model is wrong or incomplete there (issue 15, model beside observation).
    let o = finding(r, "observation.model_incomplete");
    assert_eq!(o["endpoints"], json!(["logs"]));
    assert_eq!(o["addresses"], json!([aws.scenario["addresses"]["logs"]]));
    assert!(o["resources"].as_array().unwrap().contains(&aws.scenario["logs_sg"]), "{o:#}");
    assert_eq!(d["findings"].as_array().unwrap().len(), 2, "{:#}", d["findings"]);
    // Discovery ran beside the probes, by their deadline.
    assert!(run.elapsed < Duration::from_secs(6), "{:?}", run.elapsed);

    // The table for people: the route of each endpoint and the finding.
    let out = aws.command(&["check"]).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    if let Some(path) = std::env::var_os("NETREADY_README_EXAMPLES") {
        let text = format!("$ netready check\n{table}exit {}\n", out.status.code().unwrap_or(-1));
        std::fs::write(&path, text).unwrap();
        let mut json = std::path::PathBuf::from(path).into_os_string();
        json.push(".json");
        std::fs::write(json, &run.stdout).unwrap();
    }
    assert!(table.contains(&format!("aws api: ok (auto) — {}", aws.s("eni"))), "{table}");
    assert!(table.contains(&format!("{} → {}", aws.s("s3_prefix_list"), aws.s("s3_endpoint"))), "{table}");
    assert!(table.contains("ERROR   vpc_endpoint.ingress_denied"), "{table}");
}

#[test]
fn the_check_sees_a_transit_gateway_route() {
    let Some(aws) = aws_lab(Egress::Nat, "tgw") else { return };
    let run = check(&aws, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(access_types(&run.report), ["transit_gateway"; 5]);
    for service in SERVICES {
        let c = &endpoint(&run.report, service)["connections"][0];
        assert_eq!(c["route"]["target_id"], aws.s("tgw"), "{service}");
        assert_eq!(c["route"]["target_type"], "transit_gateway");
        assert_eq!(c["route"]["destination"], "0.0.0.0/0");
    }
    // Without the AWS API, the same network is the source document's NAT guess.
    let off = check(&aws, &["--aws-api", "off", "--public-ip", "false"]);
    assert_eq!(access_types(&off.report), ["nat_gateway"; 5]);
    assert_eq!(
        off.report["diagnosis"],
        json!({"status": "off", "mode": "off", "note": null, "read_at": null, "network": null, "findings": []})
    );
}

#[test]
fn the_public_ip_comes_from_ec2() {
    let Some(aws) = aws_lab(Egress::InternetGateway, "igw_eip") else { return };
    // Nobody said --public-ip: EC2 knows the Elastic IP on the task's interface.
    let run = check(&aws, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(access_types(&run.report), ["internet_gateway"; 5]);
    assert_eq!(
        run.report["task"]["public_ip"],
        json!({"assigned": true, "address": aws.s("public_ip"), "source": "ec2"})
    );
    let off = check(&aws, &["--aws-api", "off"]);
    assert_eq!(access_types(&off.report), ["unknown"; 5], "without EC2 the public IP is unknown");
}

#[test]
fn required_without_credentials_is_exit_1_with_an_error_finding() {
    let Some(aws) = aws_lab(Egress::Nat, "nat") else { return };
    let out = aws
        .command(&["check", "--output", "json", "--aws-api", "required"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid(&report);
    assert_eq!(report["status"], "ready", "every endpoint was reached");
    assert_eq!(out.status.code(), Some(1), "but the network could not be read, as required");
    assert_eq!(report["diagnosis"]["status"], "unavailable");
    assert_eq!(finding(&report, "diagnosis.unavailable")["severity"], "error");
    // auto: a note, exit 0.
    let out = aws
        .command(&["check", "--output", "json"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(report["diagnosis"]["status"], "skipped");
    assert!(report["diagnosis"]["note"].as_str().unwrap().contains("no AWS credentials in the environment"));
}

#[test]
fn a_silent_aws_api_never_makes_the_check_slower_than_its_deadline() {
    // No moto: the AWS API's address drops every packet, as an endpoint behind a broken route does.
    if !netready_lab::ready() {
        return;
    }
    let lab = Lab::build(spec(Egress::Nat)).unwrap_or_else(|e| panic!("cannot build the lab: {e}"));
    lab.ns(&lab.vpc_ns, &["ip", "addr", "add", &format!("{MOTO_IP}/32"), "dev", "lo"]).unwrap();
    lab.iptables(&lab.vpc_ns, &["-A", "INPUT", "-d", MOTO_IP, "-j", "DROP"]).unwrap();
    let mut lab = lab;
    let arn = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task/silent/0123456789abcdef");
    lab.set_metadata(task_document(&arn), container_document()).unwrap();
    for (mode, code) in [("auto", 0), ("required", 1)] {
        let started = Instant::now();
        let out = lab
            .task_command(BIN.as_ref())
            .args(["check", "--output", "json", "--timeout", "1s", "--aws-api", mode])
            .env("ECS_CONTAINER_METADATA_URI_V4", lab.metadata_uri())
            .env("AWS_ENDPOINT_URL", format!("http://{MOTO_IP}:{MOTO_PORT}"))
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap();
        let elapsed = started.elapsed();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_valid(&report);
        assert_eq!(report["status"], "ready", "{mode}: the probes are unaffected");
        assert_eq!(out.status.code(), Some(code), "{mode}");
        assert!(elapsed < Duration::from_millis(1600), "{mode}: {elapsed:?} for a 1s deadline");
        assert!(report["duration_ms"].as_u64().unwrap() < 1300, "{mode}: {}", report["duration_ms"]);
        assert_eq!(report["diagnosis"]["status"], "unavailable", "{mode}");
        let f = finding(&report, "diagnosis.unavailable");
        assert_eq!(f["severity"], if mode == "required" { "error" } else { "warning" });
        assert!(f["message"].as_str().unwrap().contains("did not finish within the check's deadline"), "{f}");
    }
}

const PLANE: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 8080));

fn runner_view(aws: &AwsLab, id: &str) -> Option<Value> {
    let auth = format!("Bearer {ADMIN}");
    let (status, body) =
        http_in(&aws.lab.task_ns, PLANE, "GET", &format!("/api/v1/runners/{id}"), &[("Authorization", &auth)], b"")
            .ok()?;
    (status == 200).then(|| serde_json::from_str(&body).unwrap())
}

#[test]
fn the_agent_reports_routes_and_findings_and_the_runners_page_shows_them() {
    let Some(aws) = aws_lab(Egress::Nat, "lab") else { return };
    let dir = TempDir::new("aws-lab");
    let db = dir.db();
    let (id, token) = netready_lab::runner_add(BIN.as_ref(), &db, "eu-west-3/moto-fleet");
    let mut cmd = aws.lab.task_command(BIN.as_ref());
    cmd.args(["plane", "serve", "--database", &db, "--listen", "127.0.0.1:8080"]).env("NETREADY_ADMIN_TOKEN", ADMIN);
    let plane = Proc::spawn(cmd, "plane").unwrap();
    let up = eventually(Duration::from_secs(10), || {
        http_in(&aws.lab.task_ns, PLANE, "GET", "/healthz", &[], b"").ok().filter(|(s, _)| *s == 200)
    });
    assert!(up.is_some(), "the plane did not start: {:?}", plane.output());

    let mut cmd = aws.command(&["agent", "--plane-url", "http://127.0.0.1:8080", "--runner-id", &id]);
    cmd.args(["--interval", "1s", "--timeout", "3s", "--listen", "127.0.0.1:9464"])
        .env("NETREADY_RUNNER_TOKEN", &token);
    let agent = Proc::spawn(cmd, "agent").unwrap();

    // The agent's reports carry the routes, the refined access types and the findings.
    let first = eventually(Duration::from_secs(20), || {
        runner_view(&aws, &id).filter(|v| v["report"]["diagnosis"]["status"] == "ok")
    })
    .unwrap_or_else(|| panic!("no diagnosed report reached the plane: {:?}", agent.output()));
    let report = &first["report"];
    assert_eq!(report["schema_version"], netready_check::report::SCHEMA_VERSION);
    assert_eq!(access_types(report)[4], "gateway_endpoint");
    assert_eq!(endpoint(report, "s3")["connections"][0]["route"]["target_id"], aws.s("s3_endpoint"));
    assert_eq!(finding(report, "vpc_endpoint.ingress_denied")["endpoints"], json!(["logs"]));
    let read_at = report["diagnosis"]["read_at"].as_str().unwrap().to_owned();

    // The next checks use what was read (kept a few minutes)...
    let later = eventually(Duration::from_secs(10), || {
        runner_view(&aws, &id).filter(|v| v["report"]["checked_at"] != report["checked_at"])
    })
    .unwrap();
    assert_eq!(later["report"]["diagnosis"]["read_at"], read_at.as_str(), "the facts were kept");

    // ...until a probe result changes: the logs endpoint stops answering, and the network is read
    // again for that check.
    aws.lab
        .iptables(&aws.lab.vpc_ns, &["-A", "INPUT", "-d", "10.0.2.11", "-p", "tcp", "--dport", "443", "-j", "DROP"])
        .unwrap();
    let degraded = eventually(Duration::from_secs(20), || {
        runner_view(&aws, &id).filter(|v| v["runner"]["readiness"] == "degraded")
    })
    .unwrap_or_else(|| panic!("the plane never saw the degradation: {:?}", agent.output()));
    let report = &degraded["report"];
    assert!(report["diagnosis"]["read_at"].as_str().unwrap() > read_at.as_str(), "read again after the change");
    assert_eq!(endpoint(report, "logs")["reachability"], "none");
    assert_eq!(finding(report, "vpc_endpoint.ingress_denied")["severity"], "error");
    let (stdout, _) = agent.output();
    assert!(stdout.contains("a probe result changed: read the task's network again"), "{stdout}");

    // The runner's page shows the finding and each address's route.
    let auth = format!("Bearer {ADMIN}");
    let (status, page) =
        http_in(&aws.lab.task_ns, PLANE, "GET", &format!("/dashboard/runners/{id}"), &[("Authorization", &auth)], b"")
            .unwrap();
    assert_eq!(status, 200);
    for want in [
        "vpc_endpoint.ingress_denied",
        aws.s("logs_sg"),
        "do not allow inbound TCP 443 from the task",
        &format!("{} → {}", aws.s("s3_prefix_list"), aws.s("s3_endpoint")),
        "gateway_endpoint",
        "aws api ok (auto)",
    ] {
        assert!(page.contains(want), "{want} not on the runner's page");
    }
    browser_sees_the_finding(&aws, &id, dir.path());
    let mut agent = agent;
    agent.signal(libc::SIGTERM);
    assert_eq!(agent.wait_exit(Duration::from_secs(8)), Some(0), "the agent stops cleanly");
    if let Some(path) = std::env::var_os("NETREADY_README_AGENT_LOG") {
        std::fs::write(path, agent.output().0).unwrap();
    }
    drop(agent);
    drop(plane);
}

/// Chromium, run in the task namespace with the plane, logs in and finds the finding on the
/// runner's page (WebDriver over chromedriver, as `browser.rs` does). Without Chromium it says so.
fn browser_sees_the_finding(aws: &AwsLab, id: &str, dir: &std::path::Path) {
    if !netready_lab::browser::available("the served HTML was checked, not the browser") {
        return;
    }
    let s = Browser::start(Some(&aws.lab.task_ns), &dir.join("profile"), 1500, 1500);
    s.log_in("http://127.0.0.1:8080", ADMIN);
    s.wait_for("#runners");
    s.goto(&format!("http://127.0.0.1:8080/dashboard/runners/{id}"));
    let text = s.text(&s.wait_for("#findings tr[data-finding='vpc_endpoint.ingress_denied']"));
    assert!(text.contains("error") && text.contains("logs") && text.contains(aws.s("logs_sg")), "{text}");
    assert!(text.contains("add an inbound rule allowing TCP 443"), "{text}");
    let route_text = s.text(&s.wait_for("#readiness tr[data-service=s3] td.route"));
    assert!(route_text.contains(aws.s("s3_endpoint")), "{route_text}");
    if std::env::var("NETREADY_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/dashboard-runner-findings.png");
        std::fs::write(docs, s.screenshot()).unwrap();
    }
}
