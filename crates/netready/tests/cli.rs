//! The command line as a user meets it: help, and bad input rejected with exit code 2 and a
//! message that names the flag or variable and the expected form. Nothing here touches the
//! network: every case fails validation before a probe is sent.

#![allow(clippy::unwrap_used)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_netready");

/// Runs netready with a clean environment (plus `env`), returning (exit code, stdout, stderr).
fn netready(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run netready");
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

#[test]
fn the_flag_wins_over_its_variable() {
    // A valid flag hides a bad variable: it is never read.
    let (code, _, stderr) = netready(
        &["check", "--timeout", "nonsense-but-overridden"],
        &[("NETREADY_TIMEOUT", "2s")],
    );
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
    assert!(
        stdout.contains("Exit codes: 0 ready, 1 degraded, 2 usage or configuration error."),
        "{stdout}"
    );
}
