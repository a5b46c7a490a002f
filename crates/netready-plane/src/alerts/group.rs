//! Grouped notifications: when many runners change the same way at once (a fleet-wide incident,
//! usually one cause), a channel gets one notification naming the cause and the runners, with
//! every runner's own notification inside — not hundreds. Opt-in (`--alert-group-window`): the
//! worker then waits until a notification is that old, and sends what a channel has due of one
//! kind together. Pure: the body and its cause; `deliver` claims and sends.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::event::{Event, GroupEvent, Grouped, Kind, SharedCause};
use crate::ids::hex;
use crate::readiness::DegradedEndpoint;
use crate::time::rfc3339_ms;

/// The most notifications one grouped notification carries (the rest go in the next).
pub const GROUP_MAX: usize = 500;

/// A grouped notification's id and idempotency key: `grp-` and 32 hex digits of its members'
/// ids. A retry may group differently: receivers drop repeats by each member's `id`.
pub fn group_id(member_ids: &[&str]) -> String {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
        h.update([0]);
    }
    format!("grp-{}", &hex(&h.finalize())[..32])
}

/// What most of the members share: the degraded endpoint (service, reachability, access type)
/// reported by the most runners (on a tie, the first by name), when at least half of them report
/// it. The fleet view's cause.
pub fn cause(members: &[Event]) -> Option<SharedCause> {
    // Keyed by the names, so that ties break by name as they always have.
    let mut counts: BTreeMap<(&str, &str, &str), (&DegradedEndpoint, usize)> = BTreeMap::new();
    for m in members {
        let mut seen = BTreeSet::new();
        for e in &m.degraded_endpoints {
            if seen.insert((e.service.as_str(), e.reachability.as_str(), e.access_type.as_str())) {
                counts
                    .entry((e.service.as_str(), e.reachability.as_str(), e.access_type.as_str()))
                    .or_insert((e, 0))
                    .1 += 1;
            }
        }
    }
    // The most runners; on a tie, the first by service name.
    let (_, (e, runners)) = counts.into_iter().max_by(|a, b| a.1.1.cmp(&b.1.1).then_with(|| b.0.cmp(&a.0)))?;
    (runners * 2 >= members.len()).then_some(SharedCause {
        service: e.service,
        reachability: e.reachability,
        access_type: e.access_type,
        runners,
    })
}

/// The grouped notification (the `readinessChangedGroup` webhook): `members` are the runners' own
/// notifications, all of kind `kind`.
pub fn group_event(id: &str, kind: Kind, members: Vec<Event>, at_ms: i64) -> GroupEvent {
    GroupEvent {
        id: id.to_owned(),
        kind,
        grouped: Grouped,
        count: members.len(),
        cause: cause(&members),
        runners: members.iter().map(|m| m.runner.clone()).collect(),
        at: rfc3339_ms(at_ms),
        notifications: members,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::alerts::event::Notification;
    use serde_json::{Value, json};

    fn member(name: &str, endpoints: Value) -> Event {
        serde_json::from_value(json!({"id": format!("ntf-{name}"), "kind": "degraded",
            "runner": {"id": format!("rn-{name}"), "name": name}, "from": "ready", "to": "degraded",
            "since": "t", "at": "t", "degraded_endpoints": endpoints}))
        .unwrap()
    }

    #[test]
    fn a_group_names_what_most_members_share() {
        let logs = json!({"service": "logs", "host": "l", "reachability": "none", "access_type": "vpc_endpoint"});
        let ecr = json!({"service": "ecr_api", "host": "e", "reachability": "partial", "access_type": "nat_gateway"});
        let members = vec![
            member("a", json!([logs, ecr])),
            member("b", json!([logs])),
            member("c", json!([ecr, logs, logs])),
            member("d", json!([])),
        ];
        let json_of = |c: Option<SharedCause>| serde_json::to_value(c).unwrap();
        assert_eq!(
            json_of(cause(&members)),
            json!({"service": "logs", "reachability": "none", "access_type": "vpc_endpoint", "runners": 3})
        );
        assert_eq!(
            json_of(cause(&members[2..])),
            json!({"service": "ecr_api", "reachability": "partial", "access_type": "nat_gateway", "runners": 1})
        );
        assert_eq!(cause(&[member("x", json!([])), member("y", json!([]))]), None, "nothing shared");
        let g: Value =
            serde_json::from_str(&Notification::Group(group_event("grp-1", Kind::Degraded, members, 0)).to_json())
                .unwrap();
        assert_eq!((g["count"].as_u64(), g["grouped"].as_bool()), (Some(4), Some(true)));
        assert_eq!(g["runners"][3], json!({"id": "rn-d", "name": "d"}));
        assert_eq!(g["notifications"][1]["id"], "ntf-b");
        assert_eq!(g["kind"], "degraded");
        assert_eq!(group_id(&["ntf-b", "ntf-a"]), group_id(&["ntf-a", "ntf-b"]), "whatever the order");
        assert_ne!(group_id(&["ntf-a"]), group_id(&["ntf-a", "ntf-b"]));
    }
}
