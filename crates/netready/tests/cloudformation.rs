//! The CloudFormation templates under deploy/cloudformation and the one `netready endpoints
//! --format cloudformation` prints: they pass cfn-lint, and they cannot drift from the code —
//! every variable and argument a template hands the container is run through the binary's own
//! validation (`--check-config`), every variable is one the binary documents, secrets travel only
//! as `Secrets`, and the agent's task role grants exactly docs/iam-diagnosis-policy.json.
//!
//! Needs cfn-lint and PyYAML (to read the templates) at the versions tests/python/requirements.txt
//! pins, from the environment scripts/install-test-deps.sh makes. Off CI it says SKIPPED without
//! them; in CI (or with NETREADY_LAB=required) it fails.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use netready_lab::pytools::Venv;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_netready");
const TEMPLATES: [&str; 2] = ["agent.yaml", "plane.yaml"];

/// CloudFormation YAML to JSON: the short-form tags (`!Ref`, `!Sub`, …) become their long form.
const YAML_TO_JSON: &str = r#"
import json, sys, yaml
class Loader(yaml.SafeLoader):
    pass
def tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    key = suffix if suffix in ("Ref", "Condition") else "Fn::" + suffix
    return {key: value}
Loader.add_multi_constructor("!", tag)
print(json.dumps(yaml.load(open(sys.argv[1]), Loader=Loader)))
"#;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn template_path(name: &str) -> PathBuf {
    root().join("deploy/cloudformation").join(name)
}

/// The pinned cfn-lint and PyYAML, or `None` after saying SKIPPED (a panic when CI insists).
fn ready() -> Option<&'static Venv> {
    netready_lab::pytools::or_skip("the CloudFormation tests")
}

fn load(name: &str) -> Value {
    let venv = Venv::get().unwrap();
    let out = Command::new(venv.python()).args(["-c", YAML_TO_JSON]).arg(template_path(name)).output().unwrap();
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn cfn_lint(path: &Path) {
    let venv = Venv::get().unwrap();
    let out = Command::new(venv.bin("cfn-lint")).arg(path).output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{} on {} (errors, warnings or informational findings):\n{}",
        venv.describe("cfn-lint"),
        path.display(),
        text(&out)
    );
}

#[test]
fn the_templates_pass_cfn_lint() {
    if ready().is_none() {
        return;
    }
    for name in TEMPLATES {
        cfn_lint(&template_path(name));
    }
}

#[test]
fn the_endpoints_template_passes_cfn_lint_in_every_partition() {
    if ready().is_none() {
        return;
    }
    let dir = netready_lab::TempDir::new("cfn");
    for region in ["eu-west-3", "cn-north-1", "us-gov-west-1"] {
        let out = Command::new(BIN)
            .args(["endpoints", "--region", region, "--format", "cloudformation"])
            .env_clear()
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let template: Value = serde_json::from_slice(&out.stdout).unwrap();
        let resources = template["Resources"].as_object().unwrap();
        assert_eq!(resources.len(), 6, "a security group and five endpoints: {template:#}");
        let path = dir.join(format!("endpoints-{region}.json"));
        std::fs::write(&path, &out.stdout).unwrap();
        cfn_lint(&path);
    }
}

/// Sample values for template parameters without a usable default.
fn sample(parameter: &str) -> &'static str {
    match parameter {
        "AWS::Region" => "eu-west-3",
        "PlaneUrl" => "https://netready.example.com",
        "RunnerId" => "rn-3f9a1c2b7d4e",
        "EcrRegistryId" => "111122223333",
        "VpcCidrs" => "10.0.0.0/16,100.64.0.0/16",
        other => panic!("no sample value for parameter {other}: add one to sample()"),
    }
}

/// What each secret holds, in the form the container gets it.
fn secret_sample(name: &str) -> &'static str {
    match name {
        "NETREADY_RUNNER_TOKEN" => "nrt_0123456789abcdef0123456789abcdef",
        "NETREADY_ADMIN_TOKEN" => "sample-admin-token-0123456789",
        "NETREADY_DATABASE" => "postgres://netready:password@db.example.internal:5432/netready",
        other => panic!("no sample for secret {other}: add one to secret_sample()"),
    }
}

/// A container value: a literal, a parameter (its default, or `overrides`, or a sample), or the
/// set branch of an `Fn::If`.
fn resolve(template: &Value, value: &Value, overrides: &[(String, String)]) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) if o.contains_key("Ref") => {
            let name = o["Ref"].as_str().unwrap();
            if name == "AWS::NoValue" {
                return None;
            }
            if let Some((_, v)) = overrides.iter().find(|(k, _)| k == name) {
                return Some(v.clone());
            }
            match template["Parameters"][name]["Default"].as_str() {
                Some(d) if !d.is_empty() => Some(d.to_owned()),
                _ => Some(sample(name).to_owned()),
            }
        }
        Value::Object(o) if o.contains_key("Fn::If") => {
            let branches = o["Fn::If"].as_array().unwrap();
            resolve(template, &branches[1], overrides).or_else(|| resolve(template, &branches[2], overrides))
        }
        other => panic!("cannot resolve {other}: extend resolve()"),
    }
}

/// The environment entries of a container (an entry may be an `Fn::If` around a Name/Value).
fn environment(template: &Value, container: &Value, overrides: &[(String, String)]) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for entry in container["Environment"].as_array().into_iter().flatten() {
        let entry = match entry.get("Fn::If") {
            Some(branches) => &branches[1],
            None => entry,
        };
        let name = entry["Name"].as_str().unwrap().to_owned();
        if let Some(value) = resolve(template, &entry["Value"], overrides) {
            env.push((name, value));
        }
    }
    env
}

fn containers(template: &Value) -> Vec<Value> {
    template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::ECS::TaskDefinition")
        .flat_map(|r| r["Properties"]["ContainerDefinitions"].as_array().unwrap().clone())
        .collect()
}

fn run(args: &[String], env: &[(String, String)]) -> Output {
    Command::new(BIN).args(args).env_clear().envs(env.iter().map(|(k, v)| (k, v))).output().unwrap()
}

#[test]
fn every_setting_a_template_hands_the_container_is_one_the_binary_accepts() {
    if ready().is_none() {
        return;
    }
    for name in TEMPLATES {
        let template = load(name);
        let all = containers(&template);
        assert!(!all.is_empty(), "{name}: no container definitions");
        for container in all {
            let command: Vec<String> =
                container["Command"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
            let secrets: Vec<(String, String)> = container["Secrets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    let n = s["Name"].as_str().unwrap();
                    (n.to_owned(), secret_sample(n).to_owned())
                })
                .collect();

            // Each variable is documented by the command's --help, secrets never travel as
            // plain environment.
            let mut help_args = command.clone();
            help_args.push("--help".into());
            let out = run(&help_args, &[]);
            assert!(out.status.success(), "{name}: netready rejects the command {command:?}:\n{}", text(&out));
            let help = String::from_utf8_lossy(&out.stdout).into_owned();
            let base_env = environment(&template, &container, &[]);
            for (var, _) in base_env.iter().chain(&secrets) {
                assert!(
                    help.contains(var.as_str()),
                    "{name}: {var} is not a setting of `netready {}`",
                    command.join(" ")
                );
            }
            for (var, _) in &base_env {
                assert!(
                    !secrets.iter().any(|(s, _)| s == var) && !var.contains("TOKEN") && var != "NETREADY_DATABASE",
                    "{name}: {var} must come from Secrets, not Environment"
                );
            }

            // Every allowed value of every choice parameter, one at a time, then the defaults.
            let mut cases: Vec<Vec<(String, String)>> = vec![Vec::new()];
            for entry in container["Environment"].as_array().into_iter().flatten() {
                let Some(param) = entry["Value"]["Ref"].as_str() else { continue };
                for allowed in template["Parameters"][param]["AllowedValues"].as_array().into_iter().flatten() {
                    cases.push(vec![(param.to_owned(), allowed.as_str().unwrap().to_owned())]);
                }
            }
            for overrides in cases {
                let mut env = environment(&template, &container, &overrides);
                env.extend(secrets.clone());
                let mut args = command.clone();
                args.push("--check-config".into());
                let out = run(&args, &env);
                assert!(
                    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("settings are valid"),
                    "{name}: `netready {}` with {:?} {overrides:?}:\n{}",
                    args.join(" "),
                    env.iter().map(|(k, _)| k).collect::<Vec<_>>(),
                    text(&out)
                );
            }

            // The health check runs netready's own subcommand; its arguments parse (exit 0 or
            // 1: healthy or not, here where nothing serves; never 2, a usage error).
            let check: Vec<String> = container["HealthCheck"]["Command"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: a container without a HealthCheck"))
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect();
            assert_eq!(check[..2], ["CMD", "netready"], "{name}: {check:?}");
            let mut env = environment(&template, &container, &[]);
            env.extend(secrets.clone());
            let mut args = check[2..].to_vec();
            args.extend(["--timeout".into(), "200ms".into()]);
            let out = run(&args, &env);
            assert!(matches!(out.status.code(), Some(0 | 1)), "{name}: health check {check:?}:\n{}", text(&out));
        }
    }
}

#[test]
fn the_agent_task_role_grants_exactly_the_documented_read_only_actions() {
    if ready().is_none() {
        return;
    }
    let template = load("agent.yaml");
    let role = &template["Resources"]["TaskRole"]["Properties"];
    let statements: Vec<&Value> = role["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
        .collect();
    assert!(role["ManagedPolicyArns"].is_null(), "no managed policies on the task role: {role:#}");
    let actions = |statements: &[&Value]| -> BTreeSet<String> {
        statements
            .iter()
            .inspect(|s| assert_eq!((&s["Effect"], &s["Resource"]), (&Value::from("Allow"), &Value::from("*"))))
            .flat_map(|s| s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()))
            .collect()
    };
    let documented: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("docs/iam-diagnosis-policy.json")).unwrap()).unwrap();
    let documented_statements: Vec<&Value> = documented["Statement"].as_array().unwrap().iter().collect();
    let granted = actions(&statements);
    assert_eq!(granted, actions(&documented_statements));
    assert!(
        granted.iter().all(|a| a.contains(":Describe") || a.contains(":Get")),
        "read-only actions only: {granted:?}"
    );
}

// The commands the deployment relies on, as a user meets them (no tools needed).

fn netready(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN).args(args).env_clear().envs(env.iter().copied()).output().unwrap()
}

#[test]
fn endpoints_lists_every_required_host_with_its_service_name() {
    let out = netready(&["endpoints", "--region", "cn-north-1", "--format", "json"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> =
        list["endpoints"].as_array().unwrap().iter().map(|e| e["service_name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "com.amazonaws.cn-north-1.secretsmanager",
            "com.amazonaws.cn-north-1.logs",
            "cn.com.amazonaws.cn-north-1.ecr.api",
            "cn.com.amazonaws.cn-north-1.ecr.dkr",
            "com.amazonaws.cn-north-1.s3",
        ]
    );
    assert_eq!(list["endpoints"][4]["endpoint_type"], "Gateway");
    assert!(list["note"].as_str().unwrap().contains("describe-vpc-endpoint-services"));

    let out = netready(&["endpoints"], &[("AWS_REGION", "eu-west-3")]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && table.contains("api.ecr.eu-west-3.amazonaws.com:443"), "{}", text(&out));
}

#[test]
fn endpoints_names_bad_input() {
    // --only-missing reads a task's VPC: outside a task and without --task-arn/--eni, there is none.
    let out = netready(&["endpoints", "--region", "eu-west-3", "--only-missing"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--only-missing reads the task's VPC"), "{}", text(&out));
    let out = netready(&["endpoints"], &[("NETREADY_REGION", "Paris")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid value for NETREADY_REGION: 'Paris'"),
        "{}",
        text(&out)
    );
    let out = netready(&["endpoints"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no region"), "{}", text(&out));
}

#[test]
fn check_config_rejects_what_the_real_run_would() {
    let out = netready(
        &["check", "--check-config"],
        &[("NETREADY_ASSIGN_PUBLIC_IP", "ENABLED"), ("AWS_REGION", "eu-west-3")],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("public ip:       true"), "{}", text(&out));
    let out = netready(&["check", "--check-config", "--region", "eu-west-3", "--timeout", "soon"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value for --timeout"), "{}", text(&out));
    let agent = [
        "agent",
        "--check-config",
        "--region",
        "eu-west-3",
        "--plane-url",
        "https://p.example.com",
        "--runner-id",
        "rn-1",
    ];
    let out = netready(&agent, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no runner token"), "{}", text(&out));
    let out = netready(&agent, &[("NETREADY_RUNNER_TOKEN", "nrt_secret_value")]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("nrt_secret_value"), "the token is never printed");
    let out = netready(
        &["plane", "serve", "--check-config"],
        &[("NETREADY_ADMIN_TOKEN", "0123456789abcdef0123"), ("NETREADY_DATABASE", "postgres://u:hunter2@db/plane")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("postgres://u:***@db/plane")
            && !stdout.contains("hunter2")
            && !stdout.contains("0123456789abcdef"),
        "{stdout}"
    );
}

#[test]
fn healthcheck_is_unhealthy_when_nothing_answers_and_rejects_a_bad_url() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let out = netready(&["healthcheck"], &[("NETREADY_LISTEN", &format!("0.0.0.0:{port}"))]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("unhealthy: http://127.0.0.1:{port}/healthz")),
        "{}",
        text(&out)
    );
    let out = netready(&["healthcheck", "--url", "https://127.0.0.1/healthz"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// The load balancer's health check asks what the real plane serves, and it is the readiness one:
/// 200 while the database answers and the writer runs.
#[test]
fn the_load_balancer_health_check_path_is_the_planes_readiness() {
    if ready().is_none() {
        return;
    }
    let template = load("plane.yaml");
    let groups: Vec<&Value> = template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup")
        .collect();
    assert_eq!(groups.len(), 1);
    let path = groups[0]["Properties"]["HealthCheckPath"].as_str().unwrap();
    assert_eq!(path, "/readyz");
    let dir = netready_lab::TempDir::new("cfn-health");
    let addr = netready_lab::free_loopback_addr();
    let _plane = netready_lab::start_plane(BIN.as_ref(), &dir.db(), addr, "cfn-health-admin-token-0123", &[]);
    let (status, body) = netready_lab::http(addr, "GET", path, &[], b"").unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), serde_json::json!({"database": "ok", "writer": "ok"}));
}
