//! What changed between two checks, for the warning the agent logs. Pure.

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
}
