//! The diagnosis for people: the overall verdict first, then per subnet a table whose first
//! column is each service's verdict, then the findings with what to change.

use std::fmt::Write as _;

use crate::findings::{Finding, Severity};
use crate::report::{Report, SubnetReport};
use crate::verdict::{ServiceResult, Verdict};

fn headline(r: &Report) -> String {
    let all: Vec<&ServiceResult> = r.subnets.iter().flat_map(|s| &s.endpoints).collect();
    let count = |v: Verdict| all.iter().filter(|e| e.verdict == v).count();
    let status = match r.status {
        Verdict::Reachable => "REACHABLE",
        Verdict::Blocked => "BLOCKED",
        Verdict::Unknown => "UNKNOWN",
    };
    let subnets = if r.subnets.len() > 1 { format!(" over {} subnets", r.subnets.len()) } else { String::new() };
    format!(
        "netready diagnose: {status} — {}: {} reachable, {} blocked, {} unknown{subnets} (aws api {}{})",
        r.region,
        count(Verdict::Reachable),
        count(Verdict::Blocked),
        count(Verdict::Unknown),
        r.aws_api.mode,
        r.aws_api.note.as_ref().map(|n| format!(": {n}")).unwrap_or_default()
    )
}

fn subnet_lines(s: &SubnetReport, out: &mut String) {
    let Some(task) = &s.task else {
        let _ = writeln!(out, "task: network configuration not read");
        return;
    };
    let ip = task.private_ipv4.map(|ip| format!(" {ip}")).unwrap_or_default();
    let what = match (&task.eni, task.private_ipv4_source.as_str()) {
        (Some(eni), _) => format!("task {eni}{ip}"),
        (None, "attachment") => format!("stopped task, was{ip}"),
        (None, _) => format!("planned task (as{ip})"),
    };
    let public = match (&task.public_ip.address, task.public_ip.assign_public_ip) {
        (Some(ip), _) => ip.to_string(),
        (None, Some(true)) => "one (AssignPublicIp ENABLED)".into(),
        (None, Some(false)) => "none (AssignPublicIp DISABLED)".into(),
        (None, None) => "none".into(),
    };
    let _ = writeln!(
        out,
        "subnet {} ({}, {}) — {what}, public IP {public}, groups {}",
        s.subnet_id.as_deref().unwrap_or("?"),
        s.availability_zone.as_deref().unwrap_or("?"),
        s.vpc_id.as_deref().unwrap_or("?"),
        if task.security_groups.is_empty() { "none".to_owned() } else { task.security_groups.join(", ") }
    );
    let _ = writeln!(
        out,
        "route table {}, network ACL {}, VPC endpoints: {}",
        s.route_table_id.as_deref().unwrap_or("?"),
        s.network_acl_id.as_deref().unwrap_or("?"),
        if s.vpc_endpoints.is_empty() { "none".to_owned() } else { s.vpc_endpoints.join(", ") }
    );
}

fn rows(s: &SubnetReport) -> Vec<[String; 5]> {
    let mut rows =
        vec![["VERDICT".to_owned(), "SERVICE".into(), "ADDRESS (SOURCE)".into(), "PATH".into(), "WHY".into()]];
    for e in &s.endpoints {
        let why = e.why.clone().unwrap_or_default();
        if e.addresses.is_empty() {
            rows.push([e.verdict.as_str().into(), e.service.as_str().into(), "-".into(), "-".into(), why.clone()]);
        }
        for (i, a) in e.addresses.iter().enumerate() {
            let address = match a.source {
                crate::dns::AddressSource::Public => format!("public ({})", a.from.as_deref().unwrap_or("0.0.0.0/0")),
                source => format!("{} ({})", a.address, source.as_str()),
            };
            let path = match &a.route {
                Some(r) => {
                    format!("{} → {}{}", r.destination, r.target_id, if r.blackhole() { " (blackhole)" } else { "" })
                }
                None => "no route".into(),
            };
            let first = i == 0;
            rows.push([
                if first { e.verdict.as_str().into() } else { String::new() },
                if first { e.service.as_str().into() } else { String::new() },
                address,
                path,
                if first { why.clone() } else { String::new() },
            ]);
        }
    }
    rows
}

fn table(rows: &[[String; 5]], out: &mut String) {
    let widths: Vec<usize> = (0..4).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c == 4 {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

fn findings(list: &[&Finding], out: &mut String) {
    for f in list {
        let explains = if f.endpoints.is_empty() {
            String::new()
        } else {
            format!(" — {}", f.endpoints.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", "))
        };
        let resources = if f.resources.is_empty() { String::new() } else { format!(" [{}]", f.resources.join(", ")) };
        let _ = writeln!(out, "  {:<7} {}{resources}{explains}", f.severity.as_str().to_uppercase(), f.id);
        let mut what = f.message.clone();
        if !f.addresses.is_empty() {
            let list: Vec<String> = f.addresses.iter().map(ToString::to_string).collect();
            let _ = write!(what, " ({})", list.join(", "));
        }
        out.push_str(&wrap(&what, "          "));
        out.push_str(&wrap(&format!("fix: {}", f.remedy), "          "));
    }
}

/// The table `netready diagnose` prints.
pub fn table_text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", headline(r));
    if let Some(stopped) = &r.stopped {
        let _ = writeln!(
            out,
            "stopped task {} ({}): {}",
            stopped.task_arn,
            stopped.stop_code.as_deref().unwrap_or("no stop code"),
            stopped.stopped_reason.as_deref().unwrap_or("no reason given")
        );
    }
    for s in &r.subnets {
        out.push('\n');
        subnet_lines(s, &mut out);
        let _ = writeln!(out);
        table(&rows(s), &mut out);
    }
    let mut all: Vec<&Finding> = r.findings.iter().collect();
    for s in &r.subnets {
        for f in &s.findings {
            if !all.iter().any(|g| g.id == f.id && g.resources == f.resources) {
                all.push(f);
            }
        }
    }
    all.sort_by_key(|f| std::cmp::Reverse(f.severity));
    if all.is_empty() {
        let _ = writeln!(out, "\nNo findings.");
    } else {
        let _ = writeln!(out, "\nFindings:");
        findings(&all, &mut out);
    }
    if all.iter().any(|f| f.severity == Severity::Error) || r.status != Verdict::Reachable {
        let _ = writeln!(
            out,
            "\nExit {}: 0 all reachable, 1 something blocked, 3 nothing blocked but something unknown.",
            r.exit_code()
        );
    }
    out
}

fn wrap(text: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > 100 - indent.len() {
            let _ = writeln!(out, "{indent}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}{line}");
    }
    out
}
