//! The command line as a user meets it: help, and bad input rejected with exit code 2 and a
//! message that names the flag or variable and the expected form. Nothing here touches the
//! network: every case fails validation before a probe is sent.

#![allow(clippy::unwrap_used)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_netready");

/// Runs netready with a clean environment (plus `env`), returning (exit code, stdout, stderr).
fn netready(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).env_clear().envs(env.iter().copied()).output().expect("run netready");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

macro_rules! rejects {
    ($name:ident, args: $args:expr, env: $env:expr, says: [$($part:expr),+ $(,)?]) => {
        #[test]
        fn $name() {
            let (code, stdout, stderr) = netready(&$args, &$env);
            assert_eq!(code, 2, "stdout: {stdout}\nstderr: {stderr}");
            assert!(stdout.is_empty(), "nothing on stdout on a usage error: {stdout}");
            $( assert!(stderr.contains($part), "{:?} not in: {stderr}", $part); )+
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
    };
}

rejects!(bad_region_flag, args: ["check", "--region", "Paris"], env: [],
    says: ["netready: invalid value for --region: 'Paris' is not a region", "such as eu-west-3"]);
rejects!(bad_region_variable, args: ["check"], env: [("NETREADY_REGION", "eu-west")],
    says: ["invalid value for NETREADY_REGION", "expected an AWS region code"]);
rejects!(bad_aws_region_variable, args: ["check"], env: [("AWS_REGION", "moon")],
    says: ["invalid value for AWS_REGION"]);
rejects!(isolated_partition, args: ["check", "--region", "us-iso-east-1"], env: [],
    says: ["isolated partition", "aws, aws-cn and aws-us-gov"]);
rejects!(bad_cidr_flag, args: ["check", "--region", "eu-west-3", "--vpc-cidr", "10.0.0.0/8", "--vpc-cidr", "10.0.0/99"], env: [],
    says: ["invalid value for --vpc-cidr: '10.0.0/99' is not a CIDR block", "10.0.0.0/16"]);
rejects!(bad_cidr_variable, args: ["check", "--region", "eu-west-3"], env: [("NETREADY_VPC_CIDRS", "10.0.0.0/16,banana")],
    says: ["invalid value for NETREADY_VPC_CIDRS: 'banana'"]);
rejects!(bad_duration, args: ["check", "--region", "eu-west-3", "--timeout", "5"], env: [],
    says: ["invalid value for --timeout: '5' is not a duration", "500ms"]);
rejects!(zero_duration, args: ["check", "--region", "eu-west-3"], env: [("NETREADY_TIMEOUT", "0s")],
    says: ["invalid value for NETREADY_TIMEOUT", "greater than zero"]);
rejects!(bad_registry_id, args: ["check", "--region", "eu-west-3", "--ecr-registry-id", "12345"], env: [],
    says: ["invalid value for --ecr-registry-id", "12-digit"]);
rejects!(bad_boolean, args: ["check", "--region", "eu-west-3"], env: [("NETREADY_ASSIGN_PUBLIC_IP", "sometimes")],
    says: ["invalid value for NETREADY_ASSIGN_PUBLIC_IP: 'sometimes' is not a boolean", "true or false"]);
rejects!(bad_port, args: ["check", "--region", "eu-west-3", "--port", "70000"], env: [],
    says: ["invalid value for --port", "1 to 65535"]);
rejects!(bad_output, args: ["check", "--region", "eu-west-3", "--output", "xml"], env: [],
    says: ["invalid value 'xml'", "table", "json"]);
rejects!(unknown_flag, args: ["check", "--regoin", "eu-west-3"], env: [],
    says: ["unexpected argument '--regoin'", "--region"]);
rejects!(no_region_anywhere, args: ["check"], env: [],
    says: ["no region: pass --region, or set NETREADY_REGION or AWS_REGION"]);
rejects!(no_subcommand, args: [], env: [], says: ["Usage: netready"]);
rejects!(bad_aws_api_flag, args: ["check", "--region", "eu-west-3", "--aws-api", "sometimes"], env: [],
    says: ["invalid value for --aws-api: 'sometimes' is not one of off, auto, required"]);
rejects!(bad_aws_api_variable, args: ["agent", "--region", "eu-west-3"], env: [("NETREADY_AWS_API", "yes")],
    says: ["invalid value for NETREADY_AWS_API: 'yes'"]);
rejects!(only_missing_outside_a_task, args: ["endpoints", "--region", "eu-west-3", "--only-missing"], env: [],
    says: ["--only-missing reads the task's VPC", "--task-arn (NETREADY_TASK_ARN)", "--eni (NETREADY_ENI)"]);
rejects!(only_missing_bad_timeout, args: ["endpoints", "--only-missing", "--eni", "eni-1", "--timeout", "soon"], env: [],
    says: ["invalid value for --timeout: 'soon'"]);

#[test]
fn the_flag_wins_over_its_variable() {
    // A valid flag hides a bad variable: it is never read.
    let (code, _, stderr) = netready(&["check", "--timeout", "nonsense-but-overridden"], &[("NETREADY_TIMEOUT", "2s")]);
    assert_eq!(code, 2);
    assert!(stderr.contains("invalid value for --timeout"), "{stderr}");
}

#[test]
fn help() {
    let (code, stdout, _) = netready(&["check", "--help"], &[]);
    assert_eq!(code, 0);
    insta::assert_snapshot!(stdout);
}

#[test]
fn top_level_help_documents_exit_codes() {
    let (code, stdout, _) = netready(&["--help"], &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Exit codes: 0 ready, 1 degraded, 2 usage or configuration error."), "{stdout}");
}

// The agent's and the plane's settings: each mistake is exit 2 and names what to fix, before
// anything listens or connects.

const AGENT_OK: [&str; 7] =
    ["agent", "--region", "eu-west-3", "--plane-url", "http://127.0.0.1:9", "--runner-id", "rn-1"];

rejects!(agent_without_a_plane, args: ["agent", "--region", "eu-west-3"], env: [],
    says: ["no plane: pass --plane-url or set NETREADY_PLANE_URL"]);
rejects!(agent_with_a_clear_text_plane_elsewhere, args: ["agent", "--region", "eu-west-3"],
    env: [("NETREADY_PLANE_URL", "http://plane.internal:8080"), ("NETREADY_RUNNER_ID", "rn-1"), ("NETREADY_RUNNER_TOKEN", "nrt_x")],
    says: ["refusing to send the runner token in clear text", "--allow-insecure-plane"]);
rejects!(agent_with_a_bad_plane_url, args: ["agent"], env: [("NETREADY_PLANE_URL", "plane.example.com"), ("NETREADY_RUNNER_ID", "rn-1")],
    says: ["invalid value for NETREADY_PLANE_URL", "http(s)://host[:port]"]);
rejects!(agent_without_a_runner_id, args: ["agent", "--plane-url", "http://127.0.0.1:9"], env: [],
    says: ["no runner id: pass --runner-id or set NETREADY_RUNNER_ID"]);
rejects!(agent_with_a_bad_runner_id, args: ["agent", "--plane-url", "http://127.0.0.1:9", "--runner-id", "rn 1/.."], env: [],
    says: ["invalid value for --runner-id"]);
rejects!(agent_without_a_token, args: AGENT_OK, env: [],
    says: ["no runner token: set NETREADY_RUNNER_TOKEN", "--runner-token-file"]);
rejects!(agent_with_a_missing_token_file, args: ["agent", "--plane-url", "http://127.0.0.1:9", "--runner-id", "rn-1", "--runner-token-file", "/nonexistent/token"], env: [],
    says: ["cannot read the runner token file /nonexistent/token (--runner-token-file)"]);
rejects!(agent_with_a_bad_interval, args: AGENT_OK, env: [("NETREADY_RUNNER_TOKEN", "nrt_x"), ("NETREADY_INTERVAL", "5")],
    says: ["invalid value for NETREADY_INTERVAL", "500ms"]);
rejects!(agent_with_too_short_an_interval, args: ["agent", "--plane-url", "http://127.0.0.1:9", "--runner-id", "rn-1", "--interval", "10ms"], env: [("NETREADY_RUNNER_TOKEN", "nrt_x")],
    says: ["invalid value for --interval", "minimum of 1s"]);
rejects!(agent_with_a_bad_listen_address, args: AGENT_OK, env: [("NETREADY_RUNNER_TOKEN", "nrt_x"), ("NETREADY_LISTEN", "localhost")],
    says: ["invalid value for NETREADY_LISTEN", "IP:PORT"]);
rejects!(agent_without_a_region, args: ["agent", "--plane-url", "http://127.0.0.1:9", "--runner-id", "rn-1"], env: [("NETREADY_RUNNER_TOKEN", "nrt_x")],
    says: ["no region"]);
rejects!(plane_without_an_admin_token, args: ["plane", "serve"], env: [],
    says: ["NETREADY_ADMIN_TOKEN must be set", "at least 16 characters"]);
rejects!(plane_with_a_short_admin_token, args: ["plane", "serve"], env: [("NETREADY_ADMIN_TOKEN", "short")],
    says: ["NETREADY_ADMIN_TOKEN must be set"]);
rejects!(plane_with_a_bad_listen_address, args: ["plane", "serve", "--listen", "everywhere"], env: [("NETREADY_ADMIN_TOKEN", "0123456789abcdef0123")],
    says: ["invalid value for --listen: 'everywhere'"]);
rejects!(plane_with_a_bad_retention, args: ["plane", "serve"], env: [("NETREADY_ADMIN_TOKEN", "0123456789abcdef0123"), ("NETREADY_RETENTION", "forever")],
    says: ["invalid value for NETREADY_RETENTION", "not a duration"]);
rejects!(plane_with_a_bad_stale_after_flag, args: ["plane", "serve", "--stale-after", "soon"], env: [("NETREADY_ADMIN_TOKEN", "0123456789abcdef0123")],
    says: ["invalid value for --stale-after: 'soon' is not a duration"]);
rejects!(plane_with_a_bad_trusted_proxy_flag, args: ["plane", "serve", "--trusted-proxy", "10.0.0.0/16", "--trusted-proxy", "10.0.0.0/33"], env: [("NETREADY_ADMIN_TOKEN", "0123456789abcdef0123")],
    says: ["invalid value for --trusted-proxy: '10.0.0.0/33' is not an address block", "CIDR such as 10.0.0.0/16"]);
rejects!(plane_with_a_bad_trusted_proxy_variable, args: ["plane", "serve"], env: [("NETREADY_ADMIN_TOKEN", "0123456789abcdef0123"), ("NETREADY_TRUSTED_PROXY", "10.0.0.0/16,the-alb")],
    says: ["invalid value for NETREADY_TRUSTED_PROXY: 'the-alb'"]);
rejects!(plane_with_a_bad_never_reported_after, args: ["plane", "serve"], env: [("NETREADY_ADMIN_TOKEN", "0123456789abcdef0123"), ("NETREADY_NEVER_REPORTED_AFTER", "later")],
    says: ["invalid value for NETREADY_NEVER_REPORTED_AFTER", "not a duration"]);

#[test]
fn plane_check_config_shows_trusted_proxies_and_never_reported_after() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_netready"))
        .args(["plane", "serve", "--check-config", "--database", "/nonexistent/x.db", "--never-reported-after", "20m"])
        .env_clear()
        .env("NETREADY_ADMIN_TOKEN", "0123456789abcdef0123")
        .env("NETREADY_TRUSTED_PROXY", "10.0.0.0/16, 192.168.0.7")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("trusted proxies: 10.0.0.0/16, 192.168.0.7/32"), "{text}");
    assert!(text.contains("never reported:  after 20m"), "{text}");
}

rejects!(plane_with_a_bad_give_up_after, args: ["plane", "serve"], env: [("NETREADY_ADMIN_TOKEN", "0123456789abcdef0123"), ("NETREADY_ALERT_GIVE_UP_AFTER", "never")],
    says: ["invalid value for NETREADY_ALERT_GIVE_UP_AFTER", "not a duration"]);
rejects!(plane_with_too_short_a_give_up_after, args: ["plane", "serve", "--alert-give-up-after", "10ms"], env: [("NETREADY_ADMIN_TOKEN", "0123456789abcdef0123")],
    says: ["invalid value for --alert-give-up-after"]);

#[test]
fn an_unsupported_database_url_is_named_without_its_password() {
    let (code, _, stderr) =
        netready(&["plane", "runner", "list", "--database", "mysql://netready:hunter2@db/plane"], &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unsupported database 'mysql://netready:***@db/plane'"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn revoking_an_unknown_runner_says_so() {
    let dir = netready_lab::TempDir::new("cli");
    let db = dir.db();
    let (code, _, stderr) = netready(&["plane", "runner", "revoke", "rn-nope", "--database", &db], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no runner 'rn-nope'"), "{stderr}");
    let (code, stdout, _) = netready(&["plane", "runner", "add", "ci-runner", "--database", &db], &[]);
    assert_eq!(code, 0);
    let id = stdout.lines().find_map(|l| l.strip_prefix("runner id:")).unwrap().trim().to_owned();
    let (code, stdout, _) = netready(&["plane", "runner", "list", "--database", &db], &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains(&id) && stdout.contains("active") && stdout.contains("ci-runner"), "{stdout}");
    assert_eq!(netready(&["plane", "runner", "revoke", &id, "--database", &db], &[]).0, 0);
    let (_, stdout, _) = netready(&["plane", "runner", "list", "--database", &db], &[]);
    assert!(stdout.contains("revoked"), "{stdout}");
}

rejects!(agent_names_the_flag_that_overrode_a_variable, args: ["agent", "--plane-url", "http://127.0.0.1:9", "--runner-id", "rn-1", "--listen", "nowhere"],
    env: [("NETREADY_RUNNER_TOKEN", "nrt_x"), ("NETREADY_LISTEN", "127.0.0.1:9464")],
    says: ["invalid value for --listen: 'nowhere'"]);

#[test]
fn runners_are_renamed_rotated_and_deleted_from_the_command_line() {
    let dir = netready_lab::TempDir::new("cli-runners");
    let db = dir.db();
    let (id, token) = netready_lab::runner_add(BIN.as_ref(), &db, "first-name");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(BIN).args(args).args(["--database", &db]).env_clear().output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, _) = run(&["plane", "runner", "rename", &id, "second-name"]);
    assert_eq!(code, Some(0), "{out}");
    let (_, list, _) = run(&["plane", "runner", "list"]);
    assert!(list.contains("second-name") && !list.contains("first-name"), "{list}");
    let (code, out, _) = run(&["plane", "runner", "rotate-token", &id]);
    assert_eq!(code, Some(0));
    let new_token = out.lines().find_map(|l| l.strip_prefix("runner token:")).unwrap().trim().to_owned();
    assert!(new_token.starts_with("nrt_") && new_token != token);
    let (code, _, err) = run(&["plane", "runner", "delete", "rn-doesnotexist"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no runner 'rn-doesnotexist'"), "{err}");
    let (code, _, _) = run(&["plane", "runner", "delete", &id]);
    assert_eq!(code, Some(0));
    let (_, list, _) = run(&["plane", "runner", "list"]);
    assert!(!list.contains(&id), "{list}");
}
