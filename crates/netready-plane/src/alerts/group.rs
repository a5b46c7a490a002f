//! Grouped notifications: when many runners change the same way at once (a fleet-wide incident,
//! usually one cause), a channel gets one notification naming the cause and the runners, with
//! every runner's own notification inside — not hundreds. Opt-in (`--alert-group-window`): the
//! worker then waits until a notification is that old, and sends what a channel has due of one
//! kind together. Pure: the body and its cause; `deliver` claims and sends.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::ids::hex;
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
pub fn cause(members: &[Value]) -> Option<Value> {
    let mut counts: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for m in members {
        let mut seen = std::collections::BTreeSet::new();
        for e in m["degraded_endpoints"].as_array().into_iter().flatten() {
            let s = |k: &str| e[k].as_str().unwrap_or("?").to_owned();
            seen.insert((s("service"), s("reachability"), s("access_type")));
        }
        for key in seen {
            *counts.entry(key).or_default() += 1;
        }
    }
    // The most runners; on a tie, the first by service name.
    let ((service, reachability, access_type), runners) =
        counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))?;
    (runners * 2 >= members.len()).then(
        || json!({ "service": service, "reachability": reachability, "access_type": access_type, "runners": runners }),
    )
}

/// The body of a grouped notification (the `readinessChangedGroup` webhook): `members` are the
/// runners' own notifications (`readinessChanged` bodies), all of kind `kind`.
pub fn group_event(id: &str, kind: &str, members: Vec<Value>, at_ms: i64) -> Value {
    let runners: Vec<Value> = members.iter().map(|m| m["runner"].clone()).collect();
    json!({
        "id": id,
        "kind": kind,
        "grouped": true,
        "count": members.len(),
        "cause": cause(&members),
        "runners": runners,
        "at": rfc3339_ms(at_ms),
        "notifications": members,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn member(name: &str, endpoints: Value) -> Value {
        json!({"id": format!("ntf-{name}"), "kind": "degraded", "runner": {"id": format!("rn-{name}"), "name": name}, "degraded_endpoints": endpoints})
    }

    #[test]
    fn a_group_names_what_most_members_share() {
        let logs = json!({"service": "logs", "reachability": "none", "access_type": "vpc_endpoint"});
        let ecr = json!({"service": "ecr.api", "reachability": "partial", "access_type": "nat"});
        let members = vec![
            member("a", json!([logs, ecr])),
            member("b", json!([logs])),
            member("c", json!([ecr, logs, logs])),
            member("d", json!([])),
        ];
        assert_eq!(
            cause(&members),
            Some(json!({"service": "logs", "reachability": "none", "access_type": "vpc_endpoint", "runners": 3}))
        );
        assert_eq!(
            cause(&members[2..]),
            Some(json!({"service": "ecr.api", "reachability": "partial", "access_type": "nat", "runners": 1}))
        );
        assert_eq!(cause(&[member("x", json!([])), member("y", json!([]))]), None, "nothing shared");
        let g = group_event("grp-1", "degraded", members, 0);
        assert_eq!((g["count"].as_u64(), g["grouped"].as_bool()), (Some(4), Some(true)));
        assert_eq!(g["runners"][3], json!({"id": "rn-d", "name": "d"}));
        assert_eq!(g["notifications"][1]["id"], "ntf-b");
        assert_eq!(group_id(&["ntf-b", "ntf-a"]), group_id(&["ntf-a", "ntf-b"]), "whatever the order");
        assert_ne!(group_id(&["ntf-a"]), group_id(&["ntf-a", "ntf-b"]));
    }
}
