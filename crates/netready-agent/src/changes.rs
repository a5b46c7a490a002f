//! What changed between two checks: for the warning the agent logs, and whether the probes saw
//! something new (then the agent reads the task's network again). Pure.

use netready_check::Report;
use serde_json::{Value, json};

/// The endpoints whose reachability or access type differs between `before` and `after`
/// (all of them, when there is no `before`), or `None` when nothing worth a warning changed.
pub fn changed_endpoints(before: Option<&Report>, after: &Report) -> Option<Vec<Value>> {
    let before = before?;
    let changed: Vec<Value> = after
        .endpoints
        .iter()
        .filter_map(|a| {
            let b = before.endpoints.iter().find(|b| b.service == a.service);
            let same = b.is_some_and(|b| b.reachability == a.reachability && b.access_type == a.access_type);
            (!same).then(|| {
                json!({
                    "service": a.service.as_str(),
                    "from": b.map(|b| b.reachability.as_str()),
                    "to": a.reachability.as_str(),
                    "access_type": a.access_type.as_str(),
                })
            })
        })
        .collect();
    (before.status != after.status || !changed.is_empty()).then_some(changed)
}

/// Whether the probes found something else than last time: an endpoint's reachability, its DNS
/// outcome, or which addresses were dialled and reached. Timings do not count.
pub fn probes_changed(before: &Report, after: &Report) -> bool {
    probe_results(before) != probe_results(after)
}

/// One endpoint's probe results, without timings.
#[derive(Debug, PartialEq, Eq)]
struct ProbeResult {
    service: &'static str,
    reachability: &'static str,
    dns: &'static str,
    /// Each dialled address and whether it was reached, in address order.
    dials: Vec<(std::net::IpAddr, bool)>,
}

fn probe_results(report: &Report) -> Vec<ProbeResult> {
    report
        .endpoints
        .iter()
        .map(|e| {
            let mut dials: Vec<(std::net::IpAddr, bool)> = e.connections.iter().map(|c| (c.ip, c.reached())).collect();
            dials.sort();
            ProbeResult {
                service: e.service.as_str(),
                reachability: e.reachability.as_str(),
                dns: e.dns.outcome.as_str(),
                dials,
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use netready_check::classify::Reachability;

    fn report() -> Report {
        serde_json::from_str(include_str!("../../../tests/fixtures/report-v2-degraded.json")).unwrap()
    }

    #[test]
    fn nothing_changed_nothing_to_say() {
        assert_eq!(changed_endpoints(Some(&report()), &report()), None);
        assert_eq!(changed_endpoints(None, &report()), None);
    }

    #[test]
    fn names_the_endpoints_that_changed() {
        let before = report();
        let mut after = report();
        after.endpoints[1].reachability = Reachability::Full;
        after.status = netready_check::Status::Ready;
        let changed = changed_endpoints(Some(&before), &after).unwrap();
        assert_eq!(
            changed,
            vec![json!({"service": "logs", "from": "none", "to": "full", "access_type": "vpc_endpoint"})]
        );
    }

    /// The fixture as the check reads a stored report: upgraded to the current version.
    fn upgraded() -> Report {
        let v = serde_json::from_str(include_str!("../../../tests/fixtures/report-v2-degraded.json")).unwrap();
        Report::from_value(v).unwrap()
    }

    #[test]
    fn probe_changes_ignore_timings_and_address_order() {
        let a = upgraded();
        let mut b = a.clone();
        b.duration_ms += 40;
        b.endpoints[4].connections.reverse();
        b.endpoints[0].connections[0].tcp.duration_ms += 9;
        assert!(!probes_changed(&a, &b));
        let mut c = a.clone();
        c.endpoints[1].reachability = Reachability::Full;
        assert!(probes_changed(&a, &c));
        let mut d = a.clone();
        d.endpoints[4].connections[0].ip = "203.0.113.99".parse().unwrap();
        assert!(probes_changed(&a, &d));
    }
}
