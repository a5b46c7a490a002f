//! The table for people: one row per endpoint, then the hints and warnings. The JSON report holds
//! the same facts for machines.

use std::fmt::Write as _;

use netready_diagnose::Finding;

use crate::report::{DiagnosisReport, DiagnosisStatus, DnsOutcome, EndpointReport, Report, Status};

const WRAP: usize = 100;

/// Renders a report as text.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    heading(&mut out, report);
    out.push('\n');
    endpoint_rows(&mut out, report);
    notes(&mut out, report);
    out
}

/// The status line, the task's line and, when the AWS APIs were read, the network's.
fn heading(out: &mut String, report: &Report) {
    let status = match report.status {
        Status::Ready => "READY",
        Status::Degraded => "DEGRADED",
    };
    let t = &report.task;
    let _ = writeln!(
        out,
        "netready check: {status} — {} ({}), {} endpoints in {}, {}",
        t.region,
        t.partition,
        report.endpoints.len(),
        ms(report.duration_ms),
        if report.probe.tls { "TCP + TLS" } else { "TCP only" }
    );
    let public_ip = match (t.public_ip.assigned, &t.public_ip.address) {
        (Some(true), Some(addr)) => format!("{addr} ({})", source(report)),
        (Some(true), None) => format!("yes ({})", source(report)),
        (Some(false), _) => format!("none ({})", source(report)),
        (None, _) => "unknown".to_owned(),
    };
    let mut task = format!("task: {}", t.private_ipv4.as_deref().unwrap_or("address unknown"));
    if let Some(subnet) = &t.subnet_cidr {
        let _ = write!(task, " in {subnet}");
    }
    match (&t.private_ipv6, report.probe.ipv6) {
        (Some(v6), _) => {
            let _ = write!(task, ", {v6}");
        }
        (None, true) => task.push_str(", IPv6"),
        (None, false) => task.push_str(", no IPv6"),
    }
    let _ = write!(task, ", public IP {public_ip}");
    if let Some(cluster) = &t.cluster {
        let _ = write!(task, ", cluster {cluster}");
    }
    if let Some(az) = &t.availability_zone {
        let _ = write!(task, ", {az}");
    }
    let _ = writeln!(out, "{task}");
    if let Some(d) = &report.diagnosis {
        let _ = writeln!(out, "{}", network_line(d));
    }
}

/// One row per endpoint under a header, columns aligned (ROUTE only when routes were read).
fn endpoint_rows(out: &mut String, report: &Report) {
    // The ROUTE column when the route table was read: each dialled address's route.
    let routed = report.endpoints.iter().flat_map(|e| &e.connections).any(|c| c.access_type.is_some());
    let mut header = vec!["SERVICE", "ACCESS", "REACH", "DNS", "CONNECT"];
    if routed {
        header.push("ROUTE");
    }
    header.push("HOST");
    let rows: Vec<Vec<String>> = report
        .endpoints
        .iter()
        .map(|e| {
            let mut row = vec![
                e.service.as_str().to_owned(),
                e.access_type.as_str().to_owned(),
                e.reachability.as_str().to_owned(),
                dns_cell(e),
                connect_cell(e),
            ];
            if routed {
                row.push(route_cell(e));
            }
            row.push(format!("{}:{}", e.host, e.port));
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                let _ = write!(l, "{cell:<w$}  ", w = widths[i]);
            }
        }
        l.trim_end().to_owned()
    };
    let _ = writeln!(out, "{}", line(&header));
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&cells));
    }
}

/// Hints (a shared cause once), errors, findings, proxy variables and warnings, each a section.
fn notes(out: &mut String, report: &Report) {
    // A cause several endpoints share is said once, naming them; the JSON keeps each endpoint's.
    let hints = crate::hints::grouped(report);
    if !hints.is_empty() {
        let _ = writeln!(out, "\nHints:");
        for (services, hint) in hints {
            let names: Vec<&str> = services.iter().map(|s| s.as_str()).collect();
            bullet(out, &format!("{}: {hint}", names.join(", ")));
        }
    }
    // The same DNS failure on several endpoints is one line naming them.
    let mut dns_failures: Vec<(Vec<&str>, String)> = Vec::new();
    for e in &report.endpoints {
        if let Some(err) = e.dns.outcome.error() {
            let text = format!("DNS {}: {err}", e.dns.outcome.as_str());
            match dns_failures.iter_mut().find(|(_, t)| *t == text) {
                Some((services, _)) => services.push(e.service.as_str()),
                None => dns_failures.push((vec![e.service.as_str()], text)),
            }
        }
    }
    let dials = report.endpoints.iter().flat_map(|e| {
        e.connections.iter().filter_map(move |c| {
            c.failure().map(|(phase, outcome, text)| {
                format!("{} {}: {phase} {outcome}: {text}", e.service, addr(c.ip, e.port))
            })
        })
    });
    let failures: Vec<String> = dns_failures
        .into_iter()
        .map(|(services, text)| format!("{}: {text}", services.join(", ")))
        .chain(dials)
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\nErrors:");
        for f in failures {
            bullet(out, &f);
        }
    }
    // A skipped diagnosis is said once, on the `aws api:` line (the JSON keeps its finding).
    let findings: Vec<&Finding> =
        report.diagnosis.iter().flat_map(|d| &d.findings).filter(|f| f.id != "diagnosis.skipped").collect();
    if !findings.is_empty() {
        let _ = writeln!(out, "\nFindings:");
        for f in findings {
            findings_entry(out, f);
        }
    }
    if report.proxy.configured {
        let _ =
            writeln!(out, "\nProxy variables set, and bypassed by the probes: {}", report.proxy.variables.join(", "));
    }
    if !report.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings:");
        for w in &report.warnings {
            bullet(out, w);
        }
    }
}

/// What the AWS APIs said, in one line: the network read, or why not.
fn network_line(d: &DiagnosisReport) -> String {
    let mode = d.mode.as_str();
    match (&d.network, d.status) {
        (Some(n), status) => format!(
            "aws api: {} ({mode}) — {} in {} ({}), {}, route table {}, network ACL {}, {} VPC endpoint{}",
            status.as_str(),
            n.eni_id,
            n.subnet_id,
            n.availability_zone,
            n.vpc_id,
            n.route_table_id.as_deref().unwrap_or("unread"),
            n.network_acl_id.as_deref().unwrap_or("unread"),
            n.vpc_endpoints.len(),
            if n.vpc_endpoints.len() == 1 { "" } else { "s" }
        ),
        (None, DiagnosisStatus::Off) => "aws api: off".to_owned(),
        (None, status) => format!(
            "aws api: {} ({mode}){}",
            status.as_str(),
            d.note.as_ref().map(|n| format!(": {n}")).unwrap_or_default()
        ),
    }
}

/// The distinct routes an endpoint's dialled addresses take: `0.0.0.0/0 → nat-…`.
fn route_cell(e: &EndpointReport) -> String {
    let mut routes: Vec<String> = Vec::new();
    for c in &e.connections {
        let text = match (&c.route, c.access_type) {
            (Some(r), _) => {
                format!("{} → {}{}", r.destination, r.target_id, if r.blackhole() { " (blackhole)" } else { "" })
            }
            (None, Some(_)) => "no route".to_owned(),
            (None, None) => continue,
        };
        if !routes.contains(&text) {
            routes.push(text);
        }
    }
    if routes.is_empty() { "-".to_owned() } else { routes.join(", ") }
}

/// One finding: severity, id, resources and endpoints, then what is wrong and the fix, indented.
fn findings_entry(out: &mut String, f: &Finding) {
    let resources = if f.resources.is_empty() { String::new() } else { format!(" [{}]", f.resources.join(", ")) };
    let endpoints: Vec<&str> = f.endpoints.iter().map(|e| e.as_str()).collect();
    let explains = if endpoints.is_empty() { String::new() } else { format!(" — {}", endpoints.join(", ")) };
    let _ = writeln!(out, "  {:<7} {}{resources}{explains}", f.severity.as_str().to_uppercase(), f.id);
    let mut message = f.message.clone();
    if !f.addresses.is_empty() {
        let list: Vec<String> = f.addresses.iter().map(ToString::to_string).collect();
        let _ = write!(message, " ({})", list.join(", "));
    }
    indented(out, &message);
    indented(out, &format!("fix: {}", f.remedy));
}

/// Writes `text` indented under a finding, wrapped at [`WRAP`] columns.
fn indented(out: &mut String, text: &str) {
    const INDENT: &str = "          ";
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && INDENT.len() + line.len() + 1 + word.len() > WRAP {
            let _ = writeln!(out, "{INDENT}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{INDENT}{line}");
    }
}

fn source(report: &Report) -> &'static str {
    report.task.public_ip.source.as_str()
}

fn addr(ip: std::net::IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(ip, port).to_string()
}

fn ms(millis: u64) -> String {
    if millis >= 1000 { format!("{:.2}s", millis as f64 / 1000.0) } else { format!("{millis}ms") }
}

fn dns_cell(e: &EndpointReport) -> String {
    let n = e.dns.addresses.iter().filter(|a| a.dialled).count();
    let skipped = e.dns.addresses.len() - n;
    match e.dns.outcome {
        DnsOutcome::Ok => {
            let mut cell = format!("ok {} ({n} addr{}", ms(e.dns.duration_ms), if n == 1 { "" } else { "s" });
            if skipped > 0 {
                let _ = write!(cell, ", {skipped} not dialled");
            }
            cell.push(')');
            cell
        }
        ref other => format!("{} {}", other.as_str(), ms(e.dns.duration_ms)),
    }
}

fn connect_cell(e: &EndpointReport) -> String {
    if e.connections.is_empty() {
        return "-".to_owned();
    }
    let ok = e.connections.iter().filter(|c| c.reached()).count();
    let slowest = e.connections.iter().map(|c| c.duration_ms()).max().unwrap_or(0);
    if ok == e.connections.len() {
        let version = e.connections.iter().find_map(|c| c.tls.as_ref().and_then(|t| t.version.clone()));
        let tls = version.map(|v| format!(" {v}")).unwrap_or_default();
        return format!("{ok}/{} ok{tls}, max {}", e.connections.len(), ms(slowest));
    }
    let mut cell = format!("{ok}/{} ok", e.connections.len());
    for c in &e.connections {
        if let Some((phase, outcome, _)) = c.failure() {
            let _ = write!(cell, "; {} {phase} {outcome} {}", c.ip, ms(c.duration_ms()));
        }
    }
    cell
}

/// Writes `text` as a bullet, wrapped at [`WRAP`] columns.
fn bullet(out: &mut String, text: &str) {
    let mut line = String::from("  -");
    for word in text.split_whitespace() {
        if line.len() + 1 + word.len() > WRAP && line.len() > 4 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("   ");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Five endpoints that do not resolve, as a new user outside AWS sees them.
    fn nothing_resolves() -> Report {
        let mut report: Report =
            serde_json::from_str(include_str!("../../../tests/fixtures/report-v4-degraded.json")).unwrap();
        report.diagnosis = None;
        for e in &mut report.endpoints {
            e.dns.outcome = DnsOutcome::NxDomain { error: "A: the name does not exist".into() };
            e.dns.addresses.clear();
            e.connections.clear();
            e.access_type = crate::classify::AccessType::Unknown;
            e.reachability = crate::classify::Reachability::None;
        }
        report.with_hints()
    }

    #[test]
    fn the_same_cause_on_every_endpoint_is_said_once_naming_them() {
        let report = nothing_resolves();
        assert!(report.endpoints.iter().all(|e| e.hints.len() == 1), "the JSON keeps each endpoint's hint");
        let table = table(&report);
        let hints = table.split("\nHints:\n").nth(1).unwrap().split("\n\n").next().unwrap();
        assert_eq!(hints.matches("  - ").count(), 1, "{table}");
        assert!(
            hints.starts_with("  - secretsmanager, logs, ecr_api, ecr_dkr, s3: These names do not resolve"),
            "{table}"
        );
        let errors = table.split("\nErrors:\n").nth(1).unwrap().split("\n\n").next().unwrap();
        assert_eq!(errors.matches("  - ").count(), 1, "{table}");
        assert!(
            errors.starts_with(
                "  - secretsmanager, logs, ecr_api, ecr_dkr, s3: DNS nxdomain: A: the name does not exist"
            ),
            "{table}"
        );
    }
}
