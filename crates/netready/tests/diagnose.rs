//! `netready diagnose` against moto's server (`moto[server]` from PyPI, started on a loopback port
//! by this test binary): each test builds its own VPC through the API (`tests/moto/scenario.py`,
//! boto3), serves the task metadata and the container credentials on loopback, runs the real
//! binary with `AWS_ENDPOINT_URL` pointing at moto, and asserts the paths, access types, findings
//! and exit code.
//!
//! Without moto (and pip cannot install it) the tests say SKIPPED; with `CI` or
//! `NETREADY_LAB=required` set they fail.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_netready");
const REGION: &str = "eu-west-3";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn workspace_file(path: &str) -> PathBuf {
    manifest_dir().join("../..").join(path)
}

use netready_lab::moto::Moto;

/// Builds a scenario in `moto`: its ids and addresses.
fn scenario(moto: &Moto, name: &str, deny: Option<&str>) -> Value {
    let script = manifest_dir().join("tests/moto/scenario.py");
    let policy = workspace_file("docs/iam-diagnosis-policy.json").display().to_string();
    let extra: Vec<&str> = match deny {
        Some(action) => vec!["--deny", action, &policy],
        None => vec![],
    };
    let out = moto.scenario(&script, name, &extra).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_str(&out).unwrap()
}

fn moto_or_skip(moto: &Result<Moto, String>) -> Option<&Moto> {
    netready_lab::moto::or_skip(moto)
}

/// One moto for the tests that do not change its IAM enforcement (each builds its own VPC).
fn shared() -> Option<&'static Moto> {
    static MOTO: OnceLock<Result<Moto, String>> = OnceLock::new();
    moto_or_skip(MOTO.get_or_init(Moto::start))
}

/// The ECS task metadata endpoint v4 (`/task` and the container document) and the container
/// credentials endpoint (`/creds`), on a loopback port, in a thread.
fn serve_task(task_arn: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let cluster = task_arn.split('/').nth(1).unwrap_or("default").to_owned();
    let task = serde_json::json!({
        "Cluster": cluster,
        "TaskARN": task_arn,
        "AvailabilityZone": format!("{REGION}a"),
        "Containers": [{"Name": "runner", "Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": ["10.0.1.10"], "IPv4SubnetCIDRBlock": "10.0.1.0/24"}]}],
    })
    .to_string();
    let container = serde_json::json!({
        "Name": "runner",
        "Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": ["10.0.1.10"], "IPv4SubnetCIDRBlock": "10.0.1.0/24"}],
    })
    .to_string();
    let creds = serde_json::json!({
        "AccessKeyId": "AKIAIOSFODNN7EXAMPLE",
        "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "Token": "container-session-token",
        "Expiration": "2099-01-01T00:00:00Z",
    })
    .to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).is_err() || header == "\r\n" || header.is_empty() {
                    break;
                }
            }
            let body = match path.as_str() {
                "/v4/task" => &task,
                "/v4" => &container,
                "/creds" => &creds,
                _ => "{}",
            };
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

struct Run {
    code: i32,
    json: Value,
    stderr: String,
}

/// The binary as a task would run it: task metadata and container credentials on loopback, the
/// AWS API at moto, nothing else from this machine's AWS configuration.
fn as_task(moto: &Moto, scenario: &Value, extra_env: &[(&str, &str)]) -> Command {
    let base = serve_task(scenario["task_arn"].as_str().unwrap());
    let mut cmd = Command::new(BIN);
    for var in ["AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"]
    {
        cmd.env_remove(var);
    }
    cmd.env("ECS_CONTAINER_METADATA_URI_V4", format!("{base}/v4"))
        .env("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("{base}/creds"))
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1");
    for (k, v) in extra_env {
        if v.is_empty() {
            cmd.env_remove(k);
        } else {
            cmd.env(k, v);
        }
    }
    cmd
}

/// Runs `netready diagnose --output json` as a task would, with the scenario's addresses.
fn diagnose(moto: &Moto, scenario: &Value, extra_env: &[(&str, &str)]) -> Run {
    let mut args: Vec<String> = Vec::new();
    for (service, address) in scenario["addresses"].as_object().unwrap() {
        args.push("--address".into());
        args.push(format!("{service}={}", address.as_str().unwrap()));
    }
    run_diagnose(moto, scenario, extra_env, &args)
}

/// Runs it as a task would, the addresses from the model (no `--address`).
fn diagnose_model(moto: &Moto, scenario: &Value, args: &[&str]) -> Run {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    run_diagnose(moto, scenario, &[], &args)
}

/// The shared moto server with scenario `name` built in it and the diagnosis run as a task, the
/// scenario's addresses given (`--address`); `None` when moto is skipped.
fn diagnosed(name: &str, extra_env: &[(&str, &str)]) -> Option<(&'static Moto, Value, Run)> {
    let moto = shared()?;
    let s = scenario(moto, name, None);
    let run = diagnose(moto, &s, extra_env);
    Some((moto, s, run))
}

/// The same, the addresses from the model (no `--address`).
fn modelled(name: &str, args: &[&str]) -> Option<(&'static Moto, Value, Run)> {
    let moto = shared()?;
    let s = scenario(moto, name, None);
    let run = diagnose_model(moto, &s, args);
    Some((moto, s, run))
}

fn run_diagnose(moto: &Moto, scenario: &Value, extra_env: &[(&str, &str)], args: &[String]) -> Run {
    let mut cmd = as_task(moto, scenario, extra_env);
    cmd.args(["diagnose", "--output", "json", "--timeout", "20s"]).args(args);
    let out: Output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    valid(&json);
    Run { code: out.status.code().unwrap_or(-1), json, stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
}

/// Every diagnosis a test prints is checked against `schema/diagnosis-v1.schema.json`.
fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let text = std::fs::read_to_string(workspace_file("schema/diagnosis-v1.schema.json")).unwrap();
        let schema: Value = serde_json::from_str(&text).unwrap();
        jsonschema::options().should_validate_formats(true).build(&schema).expect("schema compiles")
    })
}

fn valid(json: &Value) {
    let validator = validator();
    let errors: Vec<String> = validator.iter_errors(json).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "not valid by diagnosis-v1.schema.json: {errors:#?}\n{json:#}");
}

fn endpoint<'a>(run: &'a Run, service: &str) -> &'a Value {
    run.json["subnets"][0]["endpoints"].as_array().unwrap().iter().find(|e| e["service"] == service).unwrap()
}

fn verdict(run: &Run, service: &str) -> String {
    endpoint(run, service)["verdict"].as_str().unwrap().to_owned()
}

/// The findings about the diagnosis and those of the (first) subnet.
fn all_findings(run: &Run) -> Vec<Value> {
    let mut all: Vec<Value> = run.json["findings"].as_array().unwrap().clone();
    if let Some(subnet) = run.json["subnets"].get(0) {
        all.extend(subnet["findings"].as_array().unwrap().iter().cloned());
    }
    all
}

fn access(run: &Run, service: &str) -> String {
    endpoint(run, service)["access_type"].as_str().unwrap().to_owned()
}

fn finding_ids(run: &Run) -> Vec<String> {
    all_findings(run).iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect()
}

fn finding(run: &Run, id: &str) -> Value {
    let all = all_findings(run);
    all.iter().find(|f| f["id"] == id).cloned().unwrap_or_else(|| panic!("no finding {id} in {all:#?}"))
}

const SERVICES: [&str; 5] = ["secretsmanager", "logs", "ecr_api", "ecr_dkr", "s3"];

#[test]
fn nat_path() {
    let Some((_, s, run)) = diagnosed("nat", &[]) else { return };
    assert_eq!(run.code, 0, "{:#}\n{}", run.json, run.stderr);
    for service in SERVICES {
        assert_eq!(access(&run, service), "nat_gateway", "{service}");
    }
    let route = &endpoint(&run, "s3")["addresses"][0]["route"];
    assert_eq!(route["route_table_id"], s["route_table"]);
    assert_eq!(route["destination"], "0.0.0.0/0");
    assert_eq!(route["target_id"], s["nat"]);
    assert_eq!(route["target_type"], "nat_gateway");
    assert_eq!(run.json["subnets"][0]["task"]["eni"], s["eni"]);
    assert_eq!(run.json["subnets"][0]["task"]["public_ip"], serde_json::json!({"address": null, "source": "ec2"}));
    assert_eq!(finding_ids(&run), Vec::<String>::new());
}

#[test]
fn internet_gateway_with_a_public_ip_from_ec2() {
    let Some((_, s, run)) = diagnosed("igw_eip", &[]) else { return };
    assert_eq!(run.code, 0, "{:#}", run.json);
    assert_eq!(access(&run, "logs"), "internet_gateway");
    assert_eq!(run.json["subnets"][0]["task"]["public_ip"]["address"], s["public_ip"]);
    assert_eq!(run.json["subnets"][0]["task"]["public_ip"]["source"], "ec2");
    assert_eq!(finding_ids(&run), Vec::<String>::new());
}

#[test]
fn internet_gateway_without_a_public_ip_is_an_error() {
    let Some((_, s, run)) = diagnosed("igw_no_public_ip", &[]) else { return };
    assert_eq!(run.code, 1);
    let f = finding(&run, "public_ip.missing");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["endpoints"].as_array().unwrap().len(), 5);
    assert!(f["resources"].as_array().unwrap().contains(&s["eni"]));
}

#[test]
fn s3_gateway_endpoint_is_gateway_endpoint() {
    let Some((_, s, run)) = diagnosed("s3_gateway", &[]) else { return };
    assert_eq!(run.code, 0, "{:#}", run.json);
    assert_eq!(access(&run, "s3"), "gateway_endpoint");
    assert_eq!(access(&run, "logs"), "nat_gateway");
    let route = &endpoint(&run, "s3")["addresses"][0]["route"];
    assert_eq!(route["destination"], s["s3_prefix_list"]);
    assert_eq!(route["target_id"], s["s3_endpoint"]);
    assert_eq!(finding_ids(&run), Vec::<String>::new());
}

#[test]
fn s3_gateway_endpoint_not_associated() {
    let Some((_, s, run)) = diagnosed("s3_gateway_unassociated", &[]) else { return };
    assert_eq!(run.code, 0, "a warning: NAT carries S3");
    assert_eq!(access(&run, "s3"), "nat_gateway");
    let f = finding(&run, "gateway_endpoint.not_associated");
    assert_eq!(f["severity"], "warning");
    assert_eq!(f["resources"], serde_json::json!([s["s3_endpoint"], s["route_table"]]));
    assert_eq!(f["endpoints"], serde_json::json!(["s3"]));
}

#[test]
fn interface_endpoint_with_private_dns_has_no_finding() {
    let Some((_, _, run)) = diagnosed("interface_private_dns", &[]) else { return };
    let ids = finding_ids(&run);
    assert!(!ids.iter().any(|i| i.starts_with("vpc_endpoint.") || i.starts_with("vpc.")), "{ids:?}");
}

#[test]
fn interface_endpoint_without_private_dns_and_no_other_path() {
    let Some((_, s, run)) = diagnosed("interface_no_private_dns", &[]) else { return };
    assert_eq!(run.code, 1);
    let f = finding(&run, "vpc_endpoint.private_dns_disabled");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["resources"], serde_json::json!([s["endpoint"]]));
    assert_eq!(f["endpoints"], serde_json::json!(["logs"]));
    assert_eq!(finding(&run, "route.no_route")["severity"], "error");
    // No endpoint at all for the others, and no route: missing.
    let missing: Vec<Value> = all_findings(&run).into_iter().filter(|f| f["id"] == "vpc_endpoint.missing").collect();
    assert_eq!(missing.len(), 4, "{:#}", run.json["findings"]);
}

#[test]
fn interface_endpoint_security_group_denies_the_task() {
    let Some((_, s, run)) = diagnosed("interface_sg_denies", &[]) else { return };
    let f = finding(&run, "vpc_endpoint.ingress_denied");
    assert!(f["resources"].as_array().unwrap().contains(&s["endpoint_sg"]));
    assert_eq!(f["endpoints"], serde_json::json!(["logs"]));
}

#[test]
fn dns_support_off_with_private_dns_endpoints() {
    let Some((moto, s, run)) = diagnosed("dns_support_off", &[]) else { return };
    // The names resolve to the public addresses, and NAT carries them: reachable, the finding says why
    // the endpoint is not used.
    assert_eq!(run.code, 0, "{:#}", run.json);
    let f = finding(&run, "vpc.dns_support_disabled");
    assert_eq!(f["resources"], serde_json::json!([s["vpc"]]));
    // The model, without --address: the public name, not the endpoint.
    let run = diagnose_model(moto, &s, &[]);
    let logs = endpoint(&run, "logs");
    assert_eq!(logs["dns"]["answer"], "public", "{logs:#}");
    assert!(logs["dns"]["detail"].as_str().unwrap().contains("enableDnsSupport"), "{logs:#}");
    assert_eq!(logs["addresses"][0]["source"], "public");
    assert_eq!(logs["verdict"], "reachable", "{logs:#}");
}

#[test]
fn transit_gateway_route() {
    let Some((_, s, run)) = diagnosed("tgw", &[]) else { return };
    // Beyond the transit gateway the configuration shows nothing: unknown, never OK.
    assert_eq!(run.code, 3, "{:#}", run.json);
    assert_eq!(run.json["status"], "unknown");
    for service in SERVICES {
        assert_eq!(access(&run, service), "transit_gateway", "{service}");
        assert_eq!(verdict(&run, service), "unknown", "{service}");
        assert!(endpoint(&run, service)["why"].as_str().unwrap().contains("the model's sight ends"), "{service}");
    }
    assert_eq!(finding(&run, "path.beyond_model")["resources"], serde_json::json!([s["tgw"]]));
    assert_eq!(endpoint(&run, "s3")["addresses"][0]["route"]["target_id"], s["tgw"]);
}

#[test]
fn security_group_without_443_egress() {
    let Some((_, s, run)) = diagnosed("sg_no_443", &[]) else { return };
    assert_eq!(run.code, 1);
    let f = finding(&run, "security_group.egress_denied");
    assert_eq!(f["resources"], serde_json::json!([s["task_sg"]]));
    assert_eq!(f["endpoints"].as_array().unwrap().len(), 5);
}

#[test]
fn network_acl_denies_443_out() {
    let Some((_, s, run)) = diagnosed("nacl_deny", &[]) else { return };
    assert_eq!(run.code, 1);
    let f = finding(&run, "network_acl.egress_denied");
    assert_eq!(f["resources"], serde_json::json!([s["network_acl"]]));
    assert!(f["message"].as_str().unwrap().contains("rule 90"), "{}", f["message"]);
    assert!(!finding_ids(&run).contains(&"network_acl.ingress_denied".to_owned()));
}

#[test]
fn a_user_lacking_one_action_gets_a_permission_finding() {
    // Its own moto: IAM enforcement is switched on for the whole server.
    let moto = Moto::start();
    let Some(moto) = moto_or_skip(&moto) else { return };
    let s = scenario(moto, "nat", Some("ec2:DescribeNetworkAcls"));
    moto.post("/moto-api/reset-auth", "0").unwrap();
    let key = s["access_key_id"].as_str().unwrap();
    let secret = s["secret_access_key"].as_str().unwrap();
    let run = diagnose(
        moto,
        &s,
        &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", ""), ("AWS_ACCESS_KEY_ID", key), ("AWS_SECRET_ACCESS_KEY", secret)],
    );
    let f = finding(&run, "permission.denied");
    assert_eq!(f["resources"], serde_json::json!(["ec2:DescribeNetworkAcls"]));
    assert!(f["remedy"].as_str().unwrap().contains("grant ec2:DescribeNetworkAcls"));
    assert_eq!(f["severity"], "warning");
    // The rest was read: the NAT path is still known, but not the ACL: unknown, exit 3.
    assert_eq!(access(&run, "s3"), "nat_gateway");
    assert_eq!(verdict(&run, "s3"), "unknown");
    assert!(endpoint(&run, "s3")["why"].as_str().unwrap().contains("network ACL was not read"), "{:#}", run.json);
    assert_eq!(run.code, 3, "{:#}", run.json);

    // Lacking ecs:DescribeTasks, the ENI cannot be found: one finding names it.
    let s = {
        moto.post("/moto-api/reset-auth", "inf").unwrap();
        scenario(moto, "nat", Some("ecs:DescribeTasks"))
    };
    moto.post("/moto-api/reset-auth", "0").unwrap();
    let run = diagnose(
        moto,
        &s,
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", ""),
            ("AWS_ACCESS_KEY_ID", s["access_key_id"].as_str().unwrap()),
            ("AWS_SECRET_ACCESS_KEY", s["secret_access_key"].as_str().unwrap()),
        ],
    );
    let f = finding(&run, "permission.denied");
    assert_eq!(f["resources"], serde_json::json!(["ecs:DescribeTasks"]));
    assert_eq!(finding(&run, "diagnosis.unavailable")["severity"], "warning", "auto: a warning, not an error");
    assert_eq!(run.code, 3, "nothing evaluated: unknown");
}

#[test]
fn required_without_credentials_is_an_error_and_auto_a_note() {
    let Some(moto) = shared() else { return };
    let s = serde_json::json!({"task_arn": "arn:aws:ecs:eu-west-3:123456789012:task/c/1", "addresses": {"s3": "52.95.155.10"}});
    let none = [("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")];
    let run = diagnose(moto, &s, &none);
    // Nothing was evaluated: never OK.
    assert_eq!(run.code, 3);
    assert_eq!(run.json["status"], "unknown");
    assert_eq!(verdict(&run, "s3"), "unknown");
    assert_eq!(finding_ids(&run), ["diagnosis.skipped"]);
    let run = diagnose(moto, &s, &[none[0], ("NETREADY_AWS_API", "required")]);
    assert_eq!(run.code, 3);
    assert_eq!(finding(&run, "diagnosis.unavailable")["severity"], "error");
}

/// `netready endpoints --only-missing --format json` in the scenario's task: the services listed.
fn only_missing(moto: &Moto, scenario: &Value, format: &str) -> (i32, String, String) {
    let out = as_task(moto, scenario, &[])
        .args(["endpoints", "--only-missing", "--format", format, "--timeout", "20s"])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn only_missing_lists_the_services_the_vpc_has_no_endpoint_for() {
    let Some(moto) = shared() else { return };
    let s = scenario(moto, "interface_private_dns", None);
    let (code, stdout, stderr) = only_missing(moto, &s, "json");
    assert_eq!(code, 0, "{stdout}{stderr}");
    let list: Value = serde_json::from_str(&stdout).unwrap();
    let services: Vec<&str> =
        list["endpoints"].as_array().unwrap().iter().map(|e| e["service"].as_str().unwrap()).collect();
    assert_eq!(services, ["secretsmanager", "ecr_api", "ecr_dkr", "s3"], "logs has its interface endpoint");
    assert_eq!(list["vpc_id"], s["vpc"]);
    assert_eq!(list["present"], serde_json::json!([{"service": "logs", "vpc_endpoint_id": s["endpoint"]}]));

    // The S3 gateway endpoint counts too; the template creates only the four interface endpoints.
    let s = scenario(moto, "s3_gateway", None);
    let (code, stdout, _) = only_missing(moto, &s, "cloudformation");
    assert_eq!(code, 0);
    let template: Value = serde_json::from_str(&stdout).unwrap();
    let mut resources: Vec<&String> = template["Resources"].as_object().unwrap().keys().collect();
    resources.sort();
    assert_eq!(
        resources,
        [
            "EcrApiInterfaceEndpoint",
            "EcrDkrInterfaceEndpoint",
            "EndpointSecurityGroup",
            "LogsInterfaceEndpoint",
            "SecretsmanagerInterfaceEndpoint"
        ]
    );
    let (code, table, _) = only_missing(moto, &s, "table");
    assert_eq!(code, 0);
    assert!(table.contains(&format!("present: s3 ({})", s["s3_endpoint"].as_str().unwrap())), "{table}");
    assert!(!table.contains("s3.eu-west-3.amazonaws.com:443"), "{table}");
}

#[test]
fn only_missing_without_credentials_says_why_and_exits_2() {
    let Some(moto) = shared() else { return };
    let s = serde_json::json!({"task_arn": "arn:aws:ecs:eu-west-3:123456789012:task/c/1"});
    let out = as_task(moto, &s, &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")])
        .args(["endpoints", "--only-missing", "--timeout", "5s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--only-missing: cannot read the VPC: no AWS credentials"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn usage_errors_exit_2_and_name_the_flag_or_variable() {
    let out = Command::new(BIN).args(["diagnose", "--aws-api", "maybe"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--aws-api"));
    let out = Command::new(BIN)
        .args(["diagnose", "--region", "eu-west-3"])
        .env("NETREADY_ADDRESSES", "s4=1.2.3.4")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NETREADY_ADDRESSES"));
    let out = Command::new(BIN).args(["diagnose", "--region", "eu-west-3", "--timeout", "soon"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn scenario_with(moto: &Moto, name: &str, extra: &[&str]) -> Value {
    let script = manifest_dir().join("tests/moto/scenario.py");
    let out = moto.scenario(&script, name, extra).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_str(&out).unwrap()
}

/// Runs the binary with AWS at moto and these arguments (no task metadata): exit code, JSON, stderr.
fn outside(moto: &Moto, args: &[&str]) -> Run {
    let mut cmd = Command::new(BIN);
    for var in ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "ECS_CONTAINER_METADATA_URI_V4"] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .args(["diagnose", "--output", "json", "--timeout", "20s"])
        .args(args);
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{stderr}"));
    valid(&json);
    Run { code: out.status.code().unwrap_or(-1), json, stderr }
}

/// The case: a private VPC with four interface endpoints (private DNS) and the S3 gateway
/// endpoint, diagnosed without --address: the model answers the endpoints' interface addresses and
/// S3's prefix list, every service reachable (where the old resolve-here printed `OK` over five
/// unknown rows).
#[test]
fn the_model_answers_endpoint_interfaces_and_the_s3_prefix_list() {
    let Some((_, s, run)) = modelled("private_endpoints", &[]) else { return };
    assert_eq!(run.code, 0, "{:#}", run.json);
    assert_eq!(run.json["status"], "reachable");
    for service in ["secretsmanager", "logs", "ecr_api", "ecr_dkr"] {
        let e = endpoint(&run, service);
        assert_eq!(e["verdict"], "reachable", "{e:#}");
        assert_eq!(e["dns"]["answer"], "endpoint_private_dns");
        let addresses: Vec<&Value> = e["addresses"].as_array().unwrap().iter().collect();
        assert_eq!(addresses.len(), 1, "{e:#}");
        assert_eq!(addresses[0]["address"], s["endpoint_addresses"][service]);
        assert_eq!(addresses[0]["source"], "endpoint_eni");
        assert_eq!(addresses[0]["from"], s["endpoints"][service]);
        let hops: Vec<&str> =
            addresses[0]["hops"].as_array().unwrap().iter().map(|h| h["hop"].as_str().unwrap()).collect();
        assert_eq!(hops, ["security_group_egress", "network_acl_outbound", "network_acl_return", "route", "target"]);
    }
    // The schema is strict: what the code does not print, it refuses.
    for (pointer, bad) in [
        ("/status", serde_json::json!("ok")),
        ("/subnets/0/endpoints/0/addresses/0/source", serde_json::json!("guessed")),
        ("/subnets/0/endpoints/0/addresses/0/hops/0/result", serde_json::json!("maybe")),
    ] {
        let mut doc = run.json.clone();
        *doc.pointer_mut(pointer).unwrap() = bad;
        assert!(!validator().is_valid(&doc), "{pointer}");
    }
    let mut doc = run.json.clone();
    doc["subnets"][0]["endpoints"][0]["surprise"] = serde_json::json!(1);
    assert!(!validator().is_valid(&doc), "an unknown field");
    let s3 = endpoint(&run, "s3");
    assert_eq!(s3["verdict"], "reachable", "{s3:#}");
    assert!(s3["addresses"].as_array().unwrap().iter().all(|a| a["source"] == "prefix_list"), "{s3:#}");
    assert_eq!(s3["access_type"], "gateway_endpoint");
}

/// The same VPC, the task's group allowing only port 22 out: every service blocked, the group named.
#[test]
fn a_group_allowing_only_22_blocks_every_service_and_is_named() {
    let Some((_, s, run)) = modelled("sg_only_22", &[]) else { return };
    assert_eq!(run.code, 1, "{:#}", run.json);
    assert_eq!(run.json["status"], "blocked");
    for service in SERVICES {
        let e = endpoint(&run, service);
        assert_eq!(e["verdict"], "blocked", "{e:#}");
        assert_eq!(e["findings"], serde_json::json!(["security_group.egress_denied"]), "{e:#}");
        assert!(e["why"].as_str().unwrap().contains(s["task_sg"].as_str().unwrap()), "{e:#}");
    }
    let f = finding(&run, "security_group.egress_denied");
    assert_eq!(f["resources"], serde_json::json!([s["task_sg"]]));
    assert_eq!(f["endpoints"].as_array().unwrap().len(), 5);
}

/// Before deploying: two subnets, one with a NAT path and one without a default route — a verdict
/// per subnet; and the same from the ECS service that uses both.
#[test]
fn subnets_before_deploying_and_a_service_get_a_verdict_each() {
    let Some(moto) = shared() else { return };
    let s = scenario(moto, "two_subnets", None);
    let subnets = format!("{},{}", s["subnet"].as_str().unwrap(), s["bad_subnet"].as_str().unwrap());
    let group = s["task_sg"].as_str().unwrap();
    let run = outside(moto, &["--subnet", &subnets, "--security-group", group, "--assign-public-ip", "false"]);
    assert_eq!(run.code, 1, "{:#}\n{}", run.json, run.stderr);
    assert_eq!(run.json["subject"]["kind"], "planned");
    let per: Vec<(&str, &str)> = run.json["subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["subnet_id"].as_str().unwrap(), x["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(per, [(s["subnet"].as_str().unwrap(), "reachable"), (s["bad_subnet"].as_str().unwrap(), "blocked")]);
    let bad = &run.json["subnets"][1];
    assert_eq!(bad["route_table_id"], s["bad_route_table"]);
    assert_eq!(bad["endpoints"][0]["findings"][0], "route.no_route", "{bad:#}");
    assert_eq!(bad["task"]["public_ip"]["source"], "planned");

    let run = outside(moto, &["--cluster", s["cluster"].as_str().unwrap(), "--service", "runner"]);
    assert_eq!(run.code, 1, "{:#}\n{}", run.json, run.stderr);
    assert_eq!(run.json["subject"]["kind"], "service");
    assert_eq!(run.json["subnets"].as_array().unwrap().len(), 2);
    assert_eq!(run.json["subnets"][1]["verdict"], "blocked");
}

/// A task that stopped before it ran: its subnet and address from the attachment, the groups given,
/// the reason read and tied to ECR's API at the connect phase, next to the model's verdict.
#[test]
fn a_stopped_task_s_reason_is_tied_to_its_service_and_the_verdict() {
    let Some(moto) = shared() else { return };
    let reason = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval \
                  failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s): RequestError: \
                  send request failed caused by: Post \"https://api.ecr.eu-west-3.amazonaws.com/\": dial tcp \
                  52.46.146.144:443: i/o timeout";
    let s = scenario_with(moto, "igw_no_public_ip", &["--stop", reason]);
    let arn = s["task_arn"].as_str().unwrap();
    let run = outside(moto, &["--task-arn", arn, "--security-group", s["task_sg"].as_str().unwrap()]);
    assert_eq!(run.code, 1, "{:#}\n{}", run.json, run.stderr);
    assert_eq!(run.json["subject"]["kind"], "stopped_task");
    assert_eq!(run.json["stopped"]["stopped_reason"], reason);
    let r = &run.json["stopped"]["reasons"][0];
    assert_eq!((r["service"].as_str(), r["phase"].as_str()), (Some("ecr_api"), Some("connect")), "{r:#}");
    assert_eq!(r["address"], "52.46.146.144:443");
    assert_eq!(run.json["subnets"][0]["task"]["private_ipv4"], s["task_ip"]);
    assert_eq!(run.json["subnets"][0]["task"]["private_ipv4_source"], "attachment");
    assert_eq!(verdict(&run, "ecr_api"), "blocked");
    let f = finding(&run, "task.stopped_reason");
    assert_eq!(f["endpoints"], serde_json::json!(["ecr_api"]));
    let message = f["message"].as_str().unwrap();
    assert!(message.contains("ECR API (connect phase, 52.46.146.144:443)"), "{message}");
    assert!(message.contains("the model agrees"), "{message}");

    // Without --security-group (and no service): it says which flag is missing.
    let run = outside(moto, &["--task-arn", arn]);
    assert_eq!(run.code, 3, "{:#}", run.json);
    let f = finding(&run, "diagnosis.unavailable");
    assert!(f["message"].as_str().unwrap().contains("--security-group"), "{f:#}");
}

#[test]
fn ids_of_the_wrong_kind_exit_2_and_name_the_flag() {
    let cases: [(&[&str], &str); 6] = [
        (&["--eni", "i-0123456789abcdef0"], "--eni: 'i-0123456789abcdef0' is an EC2 instance id"),
        (
            &["--task-arn", "arn:aws:ecs:eu-west-3:123456789012:service/runners/runner"],
            "--task-arn: 'arn:aws:ecs:eu-west-3:123456789012:service/runners/runner' is an ECS service ARN; for a service give --cluster and --service",
        ),
        (
            &["--eni", "eni-0123456789abcdef0", "--task-arn", "arn:aws:ecs:eu-west-3:123456789012:task/c/1"],
            "--eni and --task-arn name the same thing",
        ),
        (&["--eni", ""], "--eni: empty"),
        (&["--subnet", "subnet-0123456789abcdef0"], "--subnet needs --security-group"),
        (
            &["--subnet", "subnet-01234567", "--security-group", "sg-01234567", "--assign-public-ip", "maybe"],
            "--assign-public-ip: 'maybe' is not true or false",
        ),
    ];
    for (args, expected) in cases {
        let out = Command::new(BIN).args(["diagnose", "--region", "eu-west-3"]).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // The variable is named when it carried the value.
    let out = Command::new(BIN)
        .args(["diagnose", "--region", "eu-west-3"])
        .env("NETREADY_ENI", "sg-01234567")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NETREADY_ENI: 'sg-01234567' is a security group id"));
}

/// An AWS API that is not there: one line naming the call and what failed, no SDK dump.
#[test]
fn an_unreachable_aws_api_is_one_human_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = Command::new(BIN)
        .args(["diagnose", "--region", "eu-west-3", "--eni", "eni-0123456789abcdef0", "--timeout", "5s"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("ECS_CONTAINER_METADATA_URI_V4")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.starts_with("netready diagnose: UNKNOWN"), "{stdout}");
    assert!(stdout.contains("could not connect to"), "{stdout}");
    assert!(stdout.contains("Connection refused"), "{stdout}");
    assert!(!stdout.contains("DispatchFailure") && !stdout.contains("ConnectorError"), "{stdout}");
}

/// `--resolve local` keeps the old behaviour: the names resolved where netready runs (here, without
/// the AWS API and without internet: nothing resolves, every service unknown, never OK).
#[test]
fn resolve_local_resolves_here_and_says_so() {
    let out = Command::new(BIN)
        .args(["diagnose", "--region", "eu-west-3", "--aws-api", "off", "--resolve", "local", "--timeout", "2s"])
        .args(["--output", "json", "--address", "s3=52.95.155.10"])
        .env_remove("ECS_CONTAINER_METADATA_URI_V4")
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    valid(&json);
    assert_eq!(out.status.code(), Some(3), "{json:#}");
    let services = json["subnets"][0]["endpoints"].as_array().unwrap();
    for e in services {
        let expected = if e["service"] == "s3" { "given" } else { "resolved" };
        assert_eq!(e["dns"]["answer"], expected, "{e:#}");
        assert_eq!(e["verdict"], "unknown", "{e:#}");
    }
    assert_eq!(json["aws_api"], serde_json::json!({"mode": "off", "note": "skipped"}));
    let out = Command::new(BIN).args(["diagnose", "--region", "eu-west-3", "--resolve", "remote"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resolve: 'remote' is not model or local"));
}

/// With `--eni` (no task ARN, no task metadata), the interface's owner is the ECR registry whose
/// Docker host is modelled.
#[test]
fn with_eni_the_owner_account_is_the_default_registry() {
    let Some(moto) = shared() else { return };
    let s = scenario(moto, "nat", None);
    let run = outside(moto, &["--eni", s["eni"].as_str().unwrap()]);
    assert_eq!(run.code, 0, "{:#}\n{}", run.json, run.stderr);
    assert_eq!(run.json["subject"]["kind"], "eni");
    let account = s["task_arn"].as_str().unwrap().split(':').nth(4).unwrap().to_owned();
    assert_eq!(endpoint(&run, "ecr_dkr")["host"], format!("{account}.dkr.ecr.eu-west-3.amazonaws.com"));
}

/// The VPC with a private hosted zone for Secrets Manager's name associated with it
/// (`route53:ListHostedZonesByVPC`): the zone's records decide that name, not the endpoint, so
/// Secrets Manager is `unknown` with `dns.private_zone` naming the zone; the other services keep
/// their endpoints.
#[test]
fn a_private_hosted_zone_shadowing_a_service_is_named() {
    let Some((_, s, run)) = modelled("private_zone", &[]) else { return };
    assert_eq!(run.code, 3, "unknown: {:#}", run.json);
    let secrets = endpoint(&run, "secretsmanager");
    assert_eq!(secrets["verdict"], "unknown", "{secrets:#}");
    assert_eq!(secrets["dns"]["answer"], "private_zone", "{secrets:#}");
    assert_eq!(secrets["findings"], serde_json::json!(["dns.private_zone"]), "{secrets:#}");
    let f = finding(&run, "dns.private_zone");
    assert_eq!(f["resources"], serde_json::json!([s["zone"]]));
    assert_eq!(f["severity"], "warning");
    assert!(f["message"].as_str().unwrap().contains("secretsmanager.eu-west-3.amazonaws.com"), "{f:#}");
    assert_eq!(f["endpoints"], serde_json::json!(["secretsmanager"]));
    for service in ["logs", "ecr_api", "ecr_dkr", "s3"] {
        assert_eq!(verdict(&run, service), "reachable", "{service}: {:#}", run.json);
    }
    assert!(!finding_ids(&run).contains(&"permission.denied".to_owned()), "{:#}", run.json);
}

/// The same VPC with a Resolver FORWARD rule for `amazonaws.com` to two on-premises resolvers and a
/// SYSTEM rule for S3's regional name, both associated with it: the four interface-endpoint
/// services are answered elsewhere (`unknown`, `dns.forwarded` naming the rule and its targets),
/// and S3 stays with the VPC's resolver — the most specific rule wins, as in Resolver.
#[test]
fn a_resolver_forwarding_rule_names_the_rule_and_its_targets() {
    let Some((_, s, run)) = modelled("forwarded", &[]) else { return };
    assert_eq!(run.code, 3, "unknown: {:#}", run.json);
    for service in ["secretsmanager", "logs", "ecr_api", "ecr_dkr"] {
        let e = endpoint(&run, service);
        assert_eq!(e["verdict"], "unknown", "{e:#}");
        assert_eq!(e["dns"]["answer"], "forwarded", "{e:#}");
    }
    let f = finding(&run, "dns.forwarded");
    assert_eq!(f["resources"], serde_json::json!([s["forward_rule"]]));
    let message = f["message"].as_str().unwrap();
    assert!(message.contains("192.168.10.53:53, 192.168.11.53:53"), "{message}");
    assert!(message.contains("amazonaws.com"), "{message}");
    assert_eq!(f["endpoints"].as_array().unwrap().len(), 4, "{f:#}");
    let s3 = endpoint(&run, "s3");
    assert_eq!(s3["verdict"], "reachable", "the SYSTEM rule keeps S3's name: {s3:#}");
    assert_eq!(s3["access_type"], "gateway_endpoint");
}
