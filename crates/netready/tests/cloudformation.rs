//! The CloudFormation templates under deploy/cloudformation and the one `netready endpoints
//! --format cloudformation` prints: they pass cfn-lint, and they cannot drift from the code —
//! every variable and argument a template hands the container is run through the binary's own
//! validation (`--check-config`), every variable is one the binary documents, secrets travel only
//! as `Secrets`, and the agent's task role grants exactly docs/iam-diagnosis-policy.json. Each
//! rule the stacks keep (issue 17) has a test here: the endpoints only in their own, retained stack;
//! /metrics not forwarded by the load balancer; no open ingress default; the plane's URL its
//! domain name; Multi-AZ and autoscaling; the database password RDS rotates, apart from the URL
//! (and a real PostgreSQL with password authentication showing the plane connects that way); the
//! CPU architecture; the sidecar example.
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
const TEMPLATES: [&str; 3] = ["agent.yaml", "plane.yaml", "sidecar-example.yaml"];

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
        // Runners depend on them: deleting the stack, or replacing one, keeps the old one.
        for (id, resource) in resources {
            for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
                assert_eq!(resource[policy], "Retain", "{region}: {id} without {policy}: Retain");
            }
        }
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
        "VpcCidr" => "10.0.0.0/16",
        "DomainName" => "netready.example.com",
        "Database.Endpoint.Address" => "netready.c0abcdefghij.eu-west-3.rds.amazonaws.com",
        "Database.Endpoint.Port" => "5432",
        other => panic!("no sample value for parameter {other}: add one to sample()"),
    }
}

/// What each secret holds, in the form the container gets it.
fn secret_sample(name: &str) -> &'static str {
    match name {
        "NETREADY_RUNNER_TOKEN" => "nrt_0123456789abcdef0123456789abcdef",
        "NETREADY_ADMIN_TOKEN" => "sample-admin-token-0123456789",
        "NETREADY_DATABASE" => "postgres://netready:password@db.example.internal:5432/netready",
        "PGPASSWORD" => "rds-managed-password-0123",
        other => panic!("no sample for secret {other}: add one to secret_sample()"),
    }
}

/// Which way each condition goes: `(name, true|false)`; a condition not listed is true.
type Conditions = [(String, bool)];

fn holds(conditions: &Conditions, name: &str) -> bool {
    conditions.iter().find(|(n, _)| n == name).is_none_or(|(_, v)| *v)
}

/// The branch of an `Fn::If` the conditions choose, or the value itself.
fn branch<'a>(value: &'a Value, conditions: &Conditions) -> &'a Value {
    match value.get("Fn::If") {
        Some(b) => branch(&b[if holds(conditions, b[0].as_str().unwrap()) { 1 } else { 2 }], conditions),
        None => value,
    }
}

/// A parameter's value: `overrides`, else its default, else a sample.
fn parameter(template: &Value, name: &str, overrides: &[(String, String)]) -> String {
    if let Some((_, v)) = overrides.iter().find(|(k, _)| k == name) {
        return v.clone();
    }
    match template["Parameters"][name]["Default"].as_str() {
        Some(d) if !d.is_empty() => d.to_owned(),
        _ => sample(name).to_owned(),
    }
}

/// A container value: a literal, a parameter (its default, or `overrides`, or a sample), an
/// `Fn::Sub` of those (and of resource attributes, by sample), or the branch of an `Fn::If` the
/// conditions choose.
fn resolve(template: &Value, value: &Value, overrides: &[(String, String)], conditions: &Conditions) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(o) if o.contains_key("Ref") => {
            let name = o["Ref"].as_str().unwrap();
            (name != "AWS::NoValue").then(|| parameter(template, name, overrides))
        }
        Value::Object(o) if o.contains_key("Fn::Sub") => {
            let mut text =
                o["Fn::Sub"].as_str().unwrap_or_else(|| panic!("Fn::Sub with a map: extend resolve()")).to_owned();
            while let Some(start) = text.find("${") {
                let end = start + text[start..].find('}').unwrap();
                let name = &text[start + 2..end];
                let value = if template["Parameters"].get(name).is_some() || name.starts_with("AWS::") {
                    parameter(template, name, overrides)
                } else {
                    sample(name).to_owned()
                };
                text.replace_range(start..=end, &value);
            }
            Some(text)
        }
        Value::Object(o) if o.contains_key("Fn::If") => {
            resolve(template, branch(value, conditions), overrides, conditions)
        }
        other => panic!("cannot resolve {other}: extend resolve()"),
    }
}

/// The environment entries of a container (an entry may be an `Fn::If` around a Name/Value, or
/// `AWS::NoValue`).
fn environment(
    template: &Value,
    container: &Value,
    overrides: &[(String, String)],
    conditions: &Conditions,
) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for entry in container["Environment"].as_array().into_iter().flatten() {
        let entry = branch(entry, conditions);
        let Some(name) = entry["Name"].as_str() else { continue };
        if let Some(value) = resolve(template, &entry["Value"], overrides, conditions) {
            env.push((name.to_owned(), value));
        }
    }
    env
}

/// The names of a container's secrets, as the conditions choose them.
fn secret_names(container: &Value, conditions: &Conditions) -> Vec<String> {
    container["Secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| branch(s, conditions)["Name"].as_str().map(str::to_owned))
        .collect()
}

/// Every way the conditions a container's settings use can go (each true and false).
fn condition_cases(container: &Value) -> Vec<Vec<(String, bool)>> {
    let mut names = BTreeSet::new();
    for list in ["Environment", "Secrets"] {
        for entry in container[list].as_array().into_iter().flatten() {
            if let Some(b) = entry.get("Fn::If") {
                names.insert(b[0].as_str().unwrap().to_owned());
            }
        }
    }
    let names: Vec<String> = names.into_iter().collect();
    assert!(names.len() <= 4, "too many conditions to try every combination: {names:?}");
    (0..1u32 << names.len())
        .map(|bits| names.iter().enumerate().map(|(i, n)| (n.clone(), bits & (1 << i) != 0)).collect())
        .collect()
}

/// The netready containers of a template (a sidecar example also has the runner's own).
fn containers(template: &Value) -> Vec<Value> {
    template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::ECS::TaskDefinition")
        .flat_map(|r| r["Properties"]["ContainerDefinitions"].as_array().unwrap().clone())
        .filter(|c| c["Image"] == serde_json::json!({"Ref": "Image"}))
        .collect()
}

/// Variables a container may get that netready's --help does not list: PGPASSWORD is
/// PostgreSQL's own (libpq's, which the sqlx driver reads when the URL has no password);
/// `the_plane_connects_with_the_password_apart_from_the_url` shows the binary honours it.
const DRIVER_VARIABLES: [&str; 1] = ["PGPASSWORD"];

/// Whether a postgres:// URL carries a password (`user:password@`).
fn url_has_password(url: &str) -> bool {
    url.split_once("://").and_then(|(_, rest)| rest.split_once('@')).is_some_and(|(userinfo, _)| userinfo.contains(':'))
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
        for (container, conditions) in
            all.iter().flat_map(|c| condition_cases(c).into_iter().map(move |k| (c.clone(), k)))
        {
            let conditions = conditions.as_slice();
            let command: Vec<String> =
                container["Command"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
            let secrets: Vec<(String, String)> = secret_names(&container, conditions)
                .into_iter()
                .map(|n| {
                    let v = secret_sample(&n).to_owned();
                    (n, v)
                })
                .collect();

            // Each variable is documented by the command's --help, secrets never travel as
            // plain environment.
            let mut help_args = command.clone();
            help_args.push("--help".into());
            let out = run(&help_args, &[]);
            assert!(out.status.success(), "{name}: netready rejects the command {command:?}:\n{}", text(&out));
            let help = String::from_utf8_lossy(&out.stdout).into_owned();
            let base_env = environment(&template, &container, &[], conditions);
            for (var, _) in base_env.iter().chain(&secrets) {
                assert!(
                    help.contains(var.as_str()) || DRIVER_VARIABLES.contains(&var.as_str()),
                    "{name}: {var} is not a setting of `netready {}`",
                    command.join(" ")
                );
            }
            for (var, value) in &base_env {
                assert!(
                    !secrets.iter().any(|(s, _)| s == var)
                        && !var.contains("TOKEN")
                        && !var.contains("PASSWORD")
                        && (var != "NETREADY_DATABASE" || !url_has_password(value)),
                    "{name} {conditions:?}: {var} must come from Secrets, not Environment"
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
                let mut env = environment(&template, &container, &overrides, conditions);
                env.extend(secrets.clone());
                let mut args = command.clone();
                args.push("--check-config".into());
                let out = run(&args, &env);
                assert!(
                    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("settings are valid"),
                    "{name} {conditions:?}: `netready {}` with {:?} {overrides:?}:\n{}",
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
            let mut env = environment(&template, &container, &[], conditions);
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
        granted.iter().all(|a| a.contains(":Describe") || a.contains(":Get") || a.contains(":List")),
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

fn resources_of<'a>(template: &'a Value, ty: &str) -> Vec<(&'a String, &'a Value)> {
    template["Resources"].as_object().unwrap().iter().filter(|(_, r)| r["Type"] == ty).collect()
}

/// The agent stack creates no endpoints (they are their own, retained stack: deleting an agent
/// must not cut its runners off) and checks one Availability Zone.
#[test]
fn the_agent_stack_leaves_the_vpc_endpoints_to_their_own_stack() {
    if ready().is_none() {
        return;
    }
    let template = load("agent.yaml");
    for ty in ["AWS::EC2::VPCEndpoint", "AWS::EC2::SecurityGroup"] {
        assert!(resources_of(&template, ty).is_empty(), "agent.yaml creates an {ty}");
    }
    for gone in ["CreateVpcEndpoints", "RouteTableIds", "VpcId"] {
        assert!(template["Parameters"].get(gone).is_none(), "agent.yaml still takes {gone}");
    }
    let service = &resources_of(&template, "AWS::ECS::Service")[0].1["Properties"];
    assert_eq!(service["DesiredCount"], 1, "one task: one subnet's route table");
    let subnets = template["Parameters"]["Subnets"]["Description"].as_str().unwrap();
    assert!(subnets.contains("ONE Availability Zone"), "the Subnets parameter says one zone: {subnets}");
}

/// The load balancer answers /metrics itself, before its default action forwards anything, and
/// /metrics is where the real plane serves its metrics (so the rule blocks what it means to).
#[test]
fn the_load_balancer_does_not_forward_metrics() {
    if ready().is_none() {
        return;
    }
    let template = load("plane.yaml");
    let listeners = resources_of(&template, "AWS::ElasticLoadBalancingV2::Listener");
    let (https, listener) = listeners.iter().find(|(_, l)| l["Properties"]["Protocol"] == "HTTPS").unwrap();
    assert_eq!(listener["Properties"]["DefaultActions"][0]["Type"], "forward", "everything else goes to the plane");
    let http = listeners.iter().find(|(_, l)| l["Properties"]["Protocol"] == "HTTP").unwrap();
    assert_eq!(http.1["Properties"]["DefaultActions"][0]["Type"], "redirect", "port 80 forwards nothing");
    let rules = resources_of(&template, "AWS::ElasticLoadBalancingV2::ListenerRule");
    let blocking: Vec<&Value> = rules
        .iter()
        .map(|(_, r)| &r["Properties"])
        .filter(|p| p["ListenerArn"] == serde_json::json!({"Ref": https}))
        .filter(|p| {
            p["Conditions"].as_array().unwrap().iter().any(|c| {
                c["Field"] == "path-pattern"
                    && c["PathPatternConfig"]["Values"].as_array().unwrap().iter().any(|v| v == "/metrics")
            })
        })
        .collect();
    assert_eq!(blocking.len(), 1, "one rule on the HTTPS listener for /metrics: {rules:?}");
    let rule = blocking[0];
    let action = &rule["Actions"][0];
    assert_eq!(action["Type"], "fixed-response", "{rule:#}");
    let status = action["FixedResponseConfig"]["StatusCode"].as_str().unwrap();
    assert!(status.starts_with('4'), "a client error, not the metrics: {status}");
    let lowest = rules.iter().map(|(_, r)| r["Properties"]["Priority"].as_u64().unwrap()).min().unwrap();
    assert_eq!(rule["Priority"].as_u64(), Some(lowest), "evaluated before any other rule");

    // The real plane serves its metrics at exactly that path (with the admin token).
    let dir = netready_lab::TempDir::new("cfn-metrics");
    let addr = netready_lab::free_loopback_addr();
    let admin = "cfn-metrics-admin-token-0123";
    let _plane = netready_lab::start_plane(BIN.as_ref(), &dir.db(), addr, admin, &[]);
    let auth = format!("Bearer {admin}");
    let (status, body) = netready_lab::http(addr, "GET", "/metrics", &[("Authorization", &auth)], b"").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("# TYPE netready_plane_"), "{body}");
}

/// Nobody by default: the load balancer admits a managed prefix list and/or one CIDR, a rule
/// refuses a stack given neither, and no ingress is open unless a parameter says so.
#[test]
fn the_load_balancer_admits_only_who_the_parameters_name() {
    if ready().is_none() {
        return;
    }
    let template = load("plane.yaml");
    let params = &template["Parameters"];
    for p in ["AllowedCidr", "AllowedPrefixListId"] {
        assert_eq!(params[p]["Default"], "", "{p}: no default source");
    }
    let assertion = &template["Rules"]["SomeoneMayConnect"]["Assertions"][0];
    let text = assertion.to_string();
    assert!(text.contains("AllowedCidr") && text.contains("AllowedPrefixListId"), "{assertion:#}");
    let ingress: Vec<Value> = resources_of(&template, "AWS::EC2::SecurityGroup")
        .iter()
        .flat_map(|(_, g)| g["Properties"]["SecurityGroupIngress"].as_array().cloned().unwrap_or_default())
        .collect();
    let mut sources = BTreeSet::new();
    for rule in &ingress {
        for way in [true, false] {
            let conditions = [("HasCidr".to_owned(), way), ("HasPrefixList".to_owned(), way)];
            let rule = branch(rule, &conditions);
            if rule.get("Ref").is_some() {
                continue; // AWS::NoValue
            }
            assert!(rule.get("CidrIpv6").is_none(), "{rule}");
            if let Some(cidr) = rule.get("CidrIp") {
                assert_eq!(cidr, &serde_json::json!({"Ref": "AllowedCidr"}), "an ingress CIDR not from AllowedCidr");
                sources.insert("AllowedCidr");
            }
            if let Some(list) = rule.get("SourcePrefixListId") {
                assert_eq!(list, &serde_json::json!({"Ref": "AllowedPrefixListId"}));
                sources.insert("AllowedPrefixListId");
            }
        }
    }
    assert_eq!(sources, BTreeSet::from(["AllowedCidr", "AllowedPrefixListId"]));
}

/// The plane's URL is its domain name (what the certificate is for), and it is a PlaneUrl the
/// agent accepts.
#[test]
fn the_plane_url_output_is_the_domain_name_the_agent_accepts() {
    if ready().is_none() {
        return;
    }
    let template = load("plane.yaml");
    let url = resolve(&template, &template["Outputs"]["PlaneUrl"]["Value"], &[], &[]).unwrap();
    assert_eq!(url, format!("https://{}", sample("DomainName")));
    assert!(!template["Outputs"]["PlaneUrl"].to_string().contains("LoadBalancer"), "not the ALB's own name");
    let out = netready(
        &["agent", "--check-config"],
        &[
            ("NETREADY_REGION", "eu-west-3"),
            ("NETREADY_PLANE_URL", &url),
            ("NETREADY_RUNNER_ID", "rn-1"),
            ("NETREADY_RUNNER_TOKEN", "nrt_0123456789abcdef"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let record = &resources_of(&template, "AWS::Route53::RecordSet")[0].1;
    assert_eq!(record["Condition"], "HasHostedZone");
    assert_eq!(record["Properties"]["Name"], serde_json::json!({"Ref": "DomainName"}));
}

/// Multi-AZ unless asked otherwise, and Application Auto Scaling tracks the service's CPU between
/// the two capacity parameters, starting at the minimum.
#[test]
fn the_plane_is_multi_az_and_scales_on_cpu() {
    if ready().is_none() {
        return;
    }
    let template = load("plane.yaml");
    assert_eq!(template["Parameters"]["DatabaseMultiAz"]["Default"], "true");
    let target = &resources_of(&template, "AWS::ApplicationAutoScaling::ScalableTarget")[0].1["Properties"];
    assert_eq!(target["ScalableDimension"], "ecs:service:DesiredCount");
    assert_eq!(target["MinCapacity"], serde_json::json!({"Ref": "MinCapacity"}));
    assert_eq!(target["MaxCapacity"], serde_json::json!({"Ref": "MaxCapacity"}));
    assert!(target["ResourceId"].to_string().contains("Service"), "{target:#}");
    let policy = &resources_of(&template, "AWS::ApplicationAutoScaling::ScalingPolicy")[0].1["Properties"];
    assert_eq!(policy["PolicyType"], "TargetTrackingScaling");
    let tracking = &policy["TargetTrackingScalingPolicyConfiguration"];
    assert_eq!(tracking["PredefinedMetricSpecification"]["PredefinedMetricType"], "ECSServiceAverageCPUUtilization");
    assert_eq!(tracking["TargetValue"], serde_json::json!({"Ref": "CpuTargetPercent"}));
    let service = &resources_of(&template, "AWS::ECS::Service")[0].1["Properties"];
    assert_eq!(service["DesiredCount"], serde_json::json!({"Ref": "MinCapacity"}));
    assert!(template["Parameters"]["MinCapacity"]["MinValue"].as_u64() >= Some(2));
}

/// RDS keeps and rotates the master password; the plane gets it from that secret's `password`
/// field as PGPASSWORD and a URL without it, so no second copy goes stale; a rotation redeploys
/// the service. Any secret the stack itself creates is retained.
/// The plane reaches the database it creates over TLS with the server's name checked against
/// AWS's RDS CA bundle at the path the image puts it, and counts login attempts per client
/// behind the load balancer (it trusts X-Forwarded-For from the VPC only).
#[test]
fn the_plane_speaks_tls_to_rds_and_trusts_only_the_vpcs_forwarded_for() {
    if ready().is_none() {
        return;
    }
    let template = load("plane.yaml");
    let container = &containers(&template)[0];
    let created = [("CreateDatabase".to_owned(), true)];
    let env = environment(&template, container, &[], &created);
    let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    const BUNDLE: &str = "/etc/netready/rds-global-bundle.pem";
    let url = var("NETREADY_DATABASE").unwrap();
    assert!(url.ends_with(&format!("?sslmode=verify-full&sslrootcert={BUNDLE}")), "{url}");
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.lines().any(|l| l.starts_with("ADD ") && l.ends_with(&format!("/out/rootfs{BUNDLE}"))),
        "the image carries the bundle at {BUNDLE}"
    );
    assert_eq!(var("NETREADY_TRUSTED_PROXY").as_deref(), Some(sample("VpcCidr")));
    assert_eq!(var("NETREADY_NEVER_REPORTED_AFTER").as_deref(), Some("15m"));
}

#[test]
fn the_database_password_is_rotated_by_rds_and_never_copied_into_a_url() {
    if ready().is_none() {
        return;
    }
    let template = load("plane.yaml");
    let db = &resources_of(&template, "AWS::RDS::DBInstance")[0].1["Properties"];
    assert_eq!(db["ManageMasterUserPassword"], true);
    assert!(db.get("MasterUserPassword").is_none(), "{db:#}");
    for (id, secret) in resources_of(&template, "AWS::SecretsManager::Secret") {
        assert_eq!(
            (&secret["DeletionPolicy"], &secret["UpdateReplacePolicy"]),
            (&"Retain".into(), &"Retain".into()),
            "{id}"
        );
    }
    assert!(!template.to_string().contains("{{resolve:secretsmanager"), "no password resolved into the template");
    let container = &containers(&template)[0];
    let created = [("CreateDatabase".to_owned(), true)];
    let env = environment(&template, container, &[], &created);
    let url = &env.iter().find(|(k, _)| k == "NETREADY_DATABASE").unwrap().1;
    assert!(url.starts_with("postgres://netready@") && !url_has_password(url), "{url}");
    let password = container["Secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| branch(s, &created))
        .find(|s| s["Name"] == "PGPASSWORD")
        .unwrap();
    assert_eq!(
        password["ValueFrom"],
        serde_json::json!({"Fn::Sub": "${Database.MasterUserSecret.SecretArn}:password::"})
    );
    let execution = &template["Resources"]["ExecutionRole"].to_string();
    assert!(execution.contains("MasterUserSecret.SecretArn"), "the execution role may read it: {execution}");

    // A rotation (Secrets Manager's RotationSucceeded for that secret) forces a new deployment.
    let rule = &resources_of(&template, "AWS::Events::Rule")[0].1["Properties"];
    assert_eq!(rule["EventPattern"]["detail"]["eventName"], serde_json::json!(["RotationSucceeded"]));
    assert_eq!(
        rule["EventPattern"]["detail"]["additionalEventData"]["SecretId"],
        serde_json::json!([{"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]}])
    );
    let machine = rule["Targets"][0]["Arn"]["Ref"].as_str().unwrap();
    let state = &template["Resources"][machine]["Properties"]["Definition"]["States"]["ForceNewDeployment"];
    assert!(state["Resource"].to_string().contains("aws-sdk:ecs:updateService"), "{state:#}");
    assert_eq!(state["Parameters"]["ForceNewDeployment"], true);
    assert_eq!(state["Parameters"]["Service"], serde_json::json!({"Fn::GetAtt": ["Service", "Name"]}));
}

/// The task definitions run on the architecture the parameter names (the image must match).
#[test]
fn every_task_definition_takes_its_cpu_architecture_from_a_parameter() {
    if ready().is_none() {
        return;
    }
    for name in TEMPLATES {
        let template = load(name);
        assert_eq!(
            template["Parameters"]["CpuArchitecture"]["AllowedValues"],
            serde_json::json!(["X86_64", "ARM64"]),
            "{name}"
        );
        for (id, td) in resources_of(&template, "AWS::ECS::TaskDefinition") {
            assert_eq!(
                td["Properties"]["RuntimePlatform"]["CpuArchitecture"],
                serde_json::json!({"Ref": "CpuArchitecture"}),
                "{name}: {id}"
            );
        }
    }
}

/// The sidecar example: the agent is not essential, publishes its port, and the runner's task
/// role gets exactly the documented diagnosis actions.
#[test]
fn the_sidecar_example_is_a_non_essential_agent_with_the_diagnosis_policy() {
    if ready().is_none() {
        return;
    }
    let template = load("sidecar-example.yaml");
    let td = &resources_of(&template, "AWS::ECS::TaskDefinition")[0].1["Properties"];
    let all = td["ContainerDefinitions"].as_array().unwrap();
    assert_eq!(all.len(), 2, "the runner and the agent");
    let agent = &containers(&template)[0];
    assert_eq!(agent["Essential"], false, "the agent stopping must not stop the runner");
    assert!(all.iter().any(|c| c["Essential"] == true && c != agent), "the runner stays essential");
    assert_eq!(agent["PortMappings"][0]["ContainerPort"], 9464);
    let policy = &resources_of(&template, "AWS::IAM::ManagedPolicy")[0];
    let granted: BTreeSet<&str> = policy.1["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()))
        .collect();
    let documented: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("docs/iam-diagnosis-policy.json")).unwrap()).unwrap();
    let expected: BTreeSet<&str> = documented["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()))
        .collect();
    assert_eq!(granted, expected);
    let role = &template["Resources"][td["TaskRoleArn"]["Fn::GetAtt"][0].as_str().unwrap()]["Properties"];
    assert_eq!(role["ManagedPolicyArns"], serde_json::json!([{"Ref": policy.0}]));
}

/// A throwaway PostgreSQL cluster that checks passwords (scram-sha-256), on a free loopback port,
/// stopped when dropped. The suite's own (scripts/test-postgres.sh) trusts every loopback login,
/// which could not tell a right password from a wrong one.
struct PasswordPostgres {
    bin: PathBuf,
    dir: netready_lab::TempDir,
    port: u16,
}

impl PasswordPostgres {
    /// `None` after saying SKIPPED (a panic when CI insists) without PostgreSQL or root.
    fn start(user: &str, password: &str) -> Option<PasswordPostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql").ok().and_then(|d| {
            d.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).filter(|b| b.join("initdb").is_file()).max()
        });
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout == b"0\n");
        let (Some(bin), true) = (bin, root) else {
            let why = "the plane's PGPASSWORD test needs root and PostgreSQL (scripts/install-test-deps.sh)";
            if netready_lab::lab_required() {
                panic!("required (CI or NETREADY_LAB=required) but {why}");
            }
            netready_lab::record_skip(why);
            return None;
        };
        let dir = netready_lab::TempDir::new("cfn-pg");
        let port = netready_lab::free_loopback_addr().port();
        std::fs::write(dir.join("pwfile"), password).unwrap();
        let ok = Command::new("chown").args(["-R", "postgres:"]).arg(dir.path()).status().unwrap().success();
        assert!(ok, "chown postgres");
        let pg = PasswordPostgres { bin, dir, port };
        let data = pg.dir.join("data");
        let out = pg.as_postgres(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                user.as_ref(),
                "--auth=scram-sha-256".as_ref(),
                format!("--pwfile={}", pg.dir.join("pwfile").display()).as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        assert!(out.status.success(), "initdb: {}", text(&out));
        let options = format!("-c listen_addresses=127.0.0.1 -p {port} -k {}", pg.dir.path().display());
        let log = pg.dir.join("log");
        let out = pg.as_postgres(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "30".as_ref(),
                "-o".as_ref(),
                options.as_ref(),
                "start".as_ref(),
            ],
        );
        assert!(out.status.success(), "pg_ctl start: {}", text(&out));
        Some(pg)
    }

    fn as_postgres(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Output {
        Command::new("runuser").args(["-u", "postgres", "--"]).arg(self.bin.join(tool)).args(args).output().unwrap()
    }
}

impl Drop for PasswordPostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.as_postgres(
            "pg_ctl",
            &["-D".as_ref(), data.as_os_str(), "-m".as_ref(), "immediate".as_ref(), "stop".as_ref()],
        );
    }
}

/// What the plane stack relies on, with the real binary and a PostgreSQL that checks passwords:
/// NETREADY_DATABASE without a password plus PGPASSWORD connects; after the password changes (what
/// a rotation does) a task still holding the old one is refused, with a message that names the
/// database but not the password, and a new task with the new one connects.
#[test]
fn the_plane_connects_with_the_password_apart_from_the_url() {
    let (first, second) = ("first-Password-0123456789", "second-Password-9876543210");
    let Some(pg) = PasswordPostgres::start("netready", first) else { return };
    let url = format!("postgres://netready@127.0.0.1:{}/postgres", pg.port);
    let admin = "cfn-pg-admin-token-0123456789";
    let serve = |password: &str| {
        let addr = netready_lab::free_loopback_addr();
        let mut cmd = Command::new(BIN);
        cmd.args(["plane", "serve"]).env_clear().envs([
            ("NETREADY_DATABASE", url.as_str()),
            ("PGPASSWORD", password),
            ("NETREADY_ADMIN_TOKEN", admin),
            ("NETREADY_LISTEN", &addr.to_string()),
        ]);
        (netready_lab::Proc::spawn(cmd, "plane").unwrap(), addr)
    };
    let ready = |addr| {
        netready_lab::eventually(std::time::Duration::from_secs(15), || {
            netready_lab::http(addr, "GET", "/readyz", &[], b"").ok().filter(|(s, _)| *s == 200)
        })
    };

    let (plane, addr) = serve(first);
    assert!(ready(addr).is_some(), "no connection with PGPASSWORD: {:?}", plane.output());
    drop(plane);

    // The rotation: the role's password changes (RDS does ALTER ROLE … PASSWORD).
    let rotate = Command::new(pg.bin.join("psql"))
        .args(["-h", "127.0.0.1", "-p", &pg.port.to_string(), "-U", "netready", "-d", "postgres", "-c"])
        .arg(format!("ALTER ROLE netready PASSWORD '{second}'"))
        .env("PGPASSWORD", first)
        .output()
        .unwrap();
    assert!(rotate.status.success(), "{}", text(&rotate));

    let (mut stale, _) = serve(first);
    let code = stale.wait_exit(std::time::Duration::from_secs(30));
    let (stdout, stderr) = stale.output();
    assert!(matches!(code, Some(c) if c != 0), "the old password must be refused: {code:?} {stdout} {stderr}");
    assert!(stderr.contains("password authentication failed"), "{stderr}");
    assert!(!stderr.contains(first) && !stdout.contains(first), "the password is never printed: {stderr}");

    let (plane, addr) = serve(second);
    assert!(ready(addr).is_some(), "no connection with the rotated password: {:?}", plane.output());
}
