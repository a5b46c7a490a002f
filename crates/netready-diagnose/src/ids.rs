//! The ids `netready diagnose` takes, checked at the edge: each error says what was given, what
//! kind of id it looks like, and what the flag expects.

/// The kind an AWS id looks like, by its prefix.
fn kind_of(value: &str) -> Option<&'static str> {
    let kinds = [
        ("eni-", "a network interface id"),
        ("i-", "an EC2 instance id"),
        ("subnet-", "a subnet id"),
        ("sg-", "a security group id"),
        ("vpc-", "a VPC id"),
        ("vpce-", "a VPC endpoint id"),
        ("rtb-", "a route table id"),
        ("acl-", "a network ACL id"),
        ("arn:", "an ARN"),
    ];
    kinds.iter().find(|(p, _)| value.starts_with(p)).map(|(_, k)| *k)
}

fn hex_id(value: &str, prefix: &str) -> bool {
    value.strip_prefix(prefix).is_some_and(|rest| {
        (8..=17).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
    })
}

/// An id of `prefix` (`eni-`, `subnet-`, `sg-`): the error names `flag` and the expected form.
pub fn resource_id(flag: &str, value: &str, prefix: &str, what: &str) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(format!("{flag}: empty; expected {what} ({prefix}…)"));
    }
    if hex_id(v, prefix) {
        return Ok(v.to_owned());
    }
    let looks = match kind_of(v) {
        // The right prefix, a malformed rest: say so rather than "is <what>".
        _ if v.starts_with(prefix) => format!(" is not a well-formed {}", what.trim_start_matches("a ")),
        Some(kind) => format!(" is {kind}"),
        None => " is not an id".to_owned(),
    };
    Err(format!(
        "{flag}: '{v}'{looks}; expected {what} ({prefix} and 8 or 17 hex digits, e.g. {prefix}0123456789abcdef0)"
    ))
}

/// A list of ids (`ID[,ID…]`), each checked.
pub fn resource_ids(flag: &str, values: &[String], prefix: &str, what: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for v in values.iter().flat_map(|v| v.split(',')) {
        let id = resource_id(flag, v, prefix, what)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// A task ARN, `arn:<partition>:ecs:<region>:<account>:task/[<cluster>/]<id>`.
pub fn task_arn(flag: &str, value: &str) -> Result<String, String> {
    let v = value.trim();
    let expected = "expected a task ARN (arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID)";
    if v.is_empty() {
        return Err(format!("{flag}: empty; {expected}"));
    }
    let parts: Vec<&str> = v.splitn(6, ':').collect();
    if parts.len() == 6 && parts[0] == "arn" && parts[2] == "ecs" {
        let resource = parts[5];
        if let Some(rest) = resource.strip_prefix("task/")
            && !rest.is_empty()
            && !rest.ends_with('/')
        {
            return Ok(v.to_owned());
        }
        let kind = resource.split('/').next().unwrap_or_default();
        let hint = match kind {
            "service" => "; for a service give --cluster and --service",
            "cluster" => "; a cluster is given with --cluster",
            "task-definition" => "; a task definition does not run: give a task, or --subnet and --security-group",
            _ => "",
        };
        return Err(format!("{flag}: '{v}' is an ECS {kind} ARN{hint}; {expected}"));
    }
    let looks = kind_of(v).map(|k| format!(" is {k}")).unwrap_or_else(|| " is not an ARN".into());
    Err(format!("{flag}: '{v}'{looks}; {expected}"))
}

/// `--assign-public-ip`: `true`/`false` (and ECS's `ENABLED`/`DISABLED`).
pub fn assign_public_ip(flag: &str, value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "enabled" => Ok(true),
        "false" | "disabled" => Ok(false),
        _ => Err(format!("{flag}: '{value}' is not true or false (ENABLED and DISABLED are accepted too)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_the_wrong_kind_are_named() {
        assert_eq!(
            resource_id("--eni", "eni-0123456789abcdef0", "eni-", "a network interface id").as_deref(),
            Ok("eni-0123456789abcdef0")
        );
        assert_eq!(
            resource_id("--eni", "eni-12345678", "eni-", "a network interface id").as_deref(),
            Ok("eni-12345678")
        );
        let e = resource_id("--eni", "i-0123456789abcdef0", "eni-", "a network interface id").unwrap_err();
        assert!(
            e.starts_with("--eni: 'i-0123456789abcdef0' is an EC2 instance id; expected a network interface id"),
            "{e}"
        );
        let e = resource_id("--eni", "eni-1", "eni-", "a network interface id").unwrap_err();
        assert!(e.starts_with("--eni: 'eni-1' is not a well-formed network interface id; expected"), "{e}");
        let e = resource_id("--eni", " ", "eni-", "a network interface id").unwrap_err();
        assert!(e.starts_with("--eni: empty"), "{e}");
        let e =
            resource_ids("--subnet", &["subnet-12345678,sg-12345678".into()], "subnet-", "a subnet id").unwrap_err();
        assert!(e.contains("is a security group id"), "{e}");
    }

    #[test]
    fn task_arns_and_their_look_alikes() {
        let ok = "arn:aws:ecs:eu-west-3:123456789012:task/runners/0123456789abcdef";
        assert_eq!(task_arn("--task-arn", ok).as_deref(), Ok(ok));
        assert!(task_arn("--task-arn", "arn:aws:ecs:eu-west-3:123456789012:task/0123").is_ok(), "the old format");
        let e = task_arn("--task-arn", "arn:aws:ecs:eu-west-3:123456789012:service/runners/gh").unwrap_err();
        assert!(e.contains("is an ECS service ARN; for a service give --cluster and --service"), "{e}");
        let e = task_arn("--task-arn", "eni-0123456789abcdef0").unwrap_err();
        assert!(e.contains("is a network interface id"), "{e}");
        assert!(task_arn("--task-arn", "").unwrap_err().contains("empty"));
    }

    #[test]
    fn assign_public_ip_values() {
        assert_eq!(assign_public_ip("--assign-public-ip", "ENABLED"), Ok(true));
        assert_eq!(assign_public_ip("--assign-public-ip", "false"), Ok(false));
        assert!(assign_public_ip("--assign-public-ip", "yes").unwrap_err().contains("not true or false"));
    }
}
