//! promtool (Debian's prometheus package) for the tests: the alerting rules in
//! `deploy/prometheus` and the `/metrics` the real binaries serve.
//!
//! Errors here are `String`s on purpose: promtool's own output, which the tests print; no caller
//! decides on its kind.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The alerting rules and their unit tests.
pub fn rules_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/prometheus"))
}

/// Whether promtool is installed. When it is not: a panic where the lab is required (CI), else a
/// recorded skip saying `without`.
pub fn available(without: &str) -> bool {
    let have = Command::new("promtool").arg("--version").output().is_ok_and(|o| o.status.success());
    if !have {
        if crate::lab_required() {
            panic!("promtool is required (CI) but not installed: run scripts/install-test-deps.sh (Debian prometheus)");
        }
        crate::record_skip(&format!("no promtool (scripts/install-test-deps.sh): {without}"));
    }
    have
}

/// `promtool <args>` in the rules' directory: Ok(output) when it succeeds, Err(output) otherwise.
pub fn promtool(args: &[&str]) -> Result<String, String> {
    let out = Command::new("promtool").args(args).current_dir(rules_dir()).output().map_err(|e| e.to_string())?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() { Ok(text) } else { Err(text) }
}

/// `promtool check metrics` on an exposition: Err with its complaints (format errors, and lint:
/// names, units, help texts) unless it has none.
pub fn check_metrics(exposition: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child.stdin.take().ok_or("no stdin")?.write_all(exposition.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() && text.trim().is_empty() { Ok(()) } else { Err(text) }
}

/// The `netready_…` metric names the alerting rules' expressions use, of the agent
/// (`plane == false`) or of the plane.
pub fn rule_metrics(plane: bool) -> BTreeSet<String> {
    let rules = std::fs::read_to_string(rules_dir().join("netready-rules.yml")).expect("the rules file");
    let mut names = BTreeSet::new();
    // An expression: the `expr:` line and the lines below it indented deeper than its key.
    let mut expr_indent: Option<usize> = None;
    for line in rules.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        if trimmed.starts_with("expr:") {
            expr_indent = Some(indent);
        } else if expr_indent.is_some_and(|i| indent <= i) && !trimmed.is_empty() {
            expr_indent = None;
        }
        if expr_indent.is_none() {
            continue;
        }
        let mut rest = trimmed;
        while let Some(at) = rest.find("netready_") {
            let name: String = rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            rest = &rest[at + name.len()..];
            if name.starts_with("netready_plane_") == plane {
                names.insert(name);
            }
        }
    }
    names
}

/// The rules' metric names that `exposition` lacks.
pub fn missing_from(exposition: &str, names: &BTreeSet<String>) -> Vec<String> {
    names
        .iter()
        .filter(|n| !exposition.lines().any(|l| l.starts_with(n.as_str()) && l[n.len()..].starts_with(['{', ' '])))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_rules_name_agent_and_plane_metrics() {
        let agent = super::rule_metrics(false);
        let plane = super::rule_metrics(true);
        assert!(agent.contains("netready_ready") && agent.contains("netready_up"), "{agent:?}");
        assert!(plane.contains("netready_plane_runners") && !plane.iter().any(|n| agent.contains(n)), "{plane:?}");
        assert!(
            agent.contains("netready_last_successful_delivery_timestamp_seconds"),
            "a folded expression: {agent:?}"
        );
        let want = [
            "netready_endpoint_reachability",
            "netready_last_check_timestamp_seconds",
            "netready_last_successful_delivery_timestamp_seconds",
            "netready_ready",
            "netready_up",
        ];
        assert_eq!(agent.iter().map(String::as_str).collect::<Vec<_>>(), want, "from expressions only");
        assert_eq!(super::missing_from("netready_up 1\nnetready_ready{x=\"y\"} 0\n", &agent).len(), agent.len() - 2);
    }
}
