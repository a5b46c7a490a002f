//! The batch planner: what a batch of reports changes, decided from the runners' current state
//! by a pure function (tested by table below); `writer` reads the state and applies the plan.

use std::collections::BTreeMap;

use netready_check::Status;

use super::columns::degraded_column;
use super::types::NewReport;

/// A runner's state while a batch is applied.
#[derive(Debug, Clone)]
pub(super) struct Current {
    pub(super) checked_at: String,
    pub(super) checked_at_ms: i64,
    pub(super) status: Status,
    /// The degraded endpoints as stored (the column's text).
    pub(super) degraded: String,
    pub(super) fingerprint: String,
}

/// What a batch writes, decided from the runners' current state.
pub(super) struct Plan<'a> {
    /// The batch's reports, without the repeats within it.
    pub(super) fresh: Vec<&'a NewReport>,
    /// Per report of `fresh`: whether it starts a run (its body is kept in history).
    pub(super) run_start: Vec<bool>,
    /// Indexes into `fresh` of each advancing runner's newest report.
    pub(super) latest: Vec<usize>,
    pub(super) states: Vec<(&'a str, Current)>,
    pub(super) changes: Vec<(&'a str, i64, Option<Status>, Status)>,
    pub(super) received: i64,
}

/// Decides what a batch writes from the runners' current state, without I/O: `fresh` are the
/// batch's reports without repeats, `current` each runner's stored state, `received` when the
/// batch arrived. Returns the plan and the indexes into `fresh` of the reports that move a
/// runner's state, per runner in time order (what the alert trackers observe).
pub(super) fn plan<'a>(
    fresh: Vec<&'a NewReport>,
    current: &BTreeMap<String, Current>,
    received: i64,
) -> (Plan<'a>, Vec<usize>) {
    // Walk each runner's reports in time order. A report newer than the state becomes the state
    // (it cannot be stored already: the state is the newest stored) and the runner's latest body;
    // a different status is a change. A report that differs from the one before it in more than
    // timings starts a run, and its body is kept in history; one equal but for timings continues
    // the run, and history keeps only its compact row. Older reports are history only, kept whole.
    let mut per_runner: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in fresh.iter().enumerate() {
        per_runner.entry(r.runner_id.as_str()).or_default().push(i);
    }
    let mut run_start = vec![true; fresh.len()];
    let mut states: Vec<(&str, Current)> = Vec::new();
    let mut latest: Vec<usize> = Vec::new();
    let mut changes: Vec<(&str, i64, Option<Status>, Status)> = Vec::new();
    // Alerts: every report that moves a runner's state, per runner in time order.
    let mut observed: Vec<usize> = Vec::new();
    for (id, mut indexes) in per_runner {
        indexes.sort_by_key(|i| fresh[*i].checked_at_ms);
        let mut state = current.get(id).cloned();
        let mut newest: Option<usize> = None;
        for i in indexes {
            let r = fresh[i];
            if state.as_ref().is_some_and(|s| s.checked_at_ms >= r.checked_at_ms) {
                continue;
            }
            let previous = state.as_ref().map(|s| s.status);
            if previous != Some(r.status) {
                changes.push((id, r.checked_at_ms, previous, r.status));
            }
            run_start[i] = !state.as_ref().is_some_and(|s| !r.fingerprint.is_empty() && s.fingerprint == r.fingerprint);
            state = Some(Current {
                checked_at: r.checked_at.clone(),
                checked_at_ms: r.checked_at_ms,
                status: r.status,
                degraded: degraded_column(&r.degraded),
                fingerprint: r.fingerprint.clone(),
            });
            newest = Some(i);
            observed.push(i);
        }
        // Only a newer report moves the state (and the runner's freshness): a late or
        // backfilled one is history only.
        if let (Some(i), Some(state)) = (newest, state) {
            states.push((id, state));
            latest.push(i);
        }
    }

    (Plan { fresh, run_start, latest, states, changes, received }, observed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(status: &str) -> Status {
        if status == "ready" { Status::Ready } else { Status::Degraded }
    }

    fn report(runner: &str, at: i64, status: &str, fingerprint: &str) -> NewReport {
        NewReport {
            runner_id: runner.into(),
            checked_at: format!("t{at}"),
            checked_at_ms: at,
            status: typed(status),
            degraded: Vec::new(),
            body: String::new(),
            fingerprint: fingerprint.into(),
            summary: String::new(),
            placement: Default::default(),
            endpoints: Vec::new(),
        }
    }

    fn state(at: i64, status: &str, fingerprint: &str) -> Current {
        Current {
            checked_at: format!("t{at}"),
            checked_at_ms: at,
            status: typed(status),
            degraded: "[]".into(),
            fingerprint: fingerprint.into(),
        }
    }

    /// One row: the stored states, the batch, then what the plan says — the runners whose state
    /// moves (to which report's time), the status changes, which reports start a run, and which
    /// the alert trackers observe.
    struct Row {
        what: &'static str,
        current: Vec<(&'static str, Current)>,
        batch: Vec<NewReport>,
        states: Vec<(&'static str, i64)>,
        changes: Vec<(&'static str, i64, Option<&'static str>, &'static str)>,
        run_start: Vec<bool>,
        observed: Vec<usize>,
    }

    #[test]
    fn the_planner_by_table() {
        let rows = [
            Row {
                what: "a runner's first report: a change from nothing, a new run",
                current: vec![],
                batch: vec![report("a", 10, "ready", "f1")],
                states: vec![("a", 10)],
                changes: vec![("a", 10, None, "ready")],
                run_start: vec![true],
                observed: vec![0],
            },
            Row {
                what: "the same network again: no change, the run continues",
                current: vec![("a", state(10, "degraded", "f1"))],
                batch: vec![report("a", 20, "degraded", "f1")],
                states: vec![("a", 20)],
                changes: vec![],
                run_start: vec![false],
                observed: vec![0],
            },
            Row {
                what: "a late report is history only: no state, no change, not observed",
                current: vec![("a", state(10, "degraded", "f1"))],
                batch: vec![report("a", 5, "ready", "f2"), report("a", 10, "ready", "f2")],
                states: vec![],
                changes: vec![],
                run_start: vec![true, true],
                observed: vec![],
            },
            Row {
                what: "two reports out of order: applied in time order, two changes",
                current: vec![],
                batch: vec![report("a", 30, "ready", "f2"), report("a", 20, "degraded", "f1")],
                states: vec![("a", 30)],
                changes: vec![("a", 20, None, "degraded"), ("a", 30, Some("degraded"), "ready")],
                run_start: vec![true, true],
                observed: vec![1, 0],
            },
            Row {
                what: "no fingerprint: every report starts a run",
                current: vec![("a", state(10, "ready", ""))],
                batch: vec![report("a", 20, "ready", "")],
                states: vec![("a", 20)],
                changes: vec![],
                run_start: vec![true],
                observed: vec![0],
            },
            Row {
                what: "two runners: each planned apart, in runner order",
                current: vec![("b", state(10, "ready", "f1"))],
                batch: vec![report("b", 20, "degraded", "f2"), report("a", 15, "ready", "f1")],
                states: vec![("a", 15), ("b", 20)],
                changes: vec![("a", 15, None, "ready"), ("b", 20, Some("ready"), "degraded")],
                run_start: vec![true, true],
                observed: vec![1, 0],
            },
        ];
        for row in rows {
            let current: BTreeMap<String, Current> = row.current.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            let (plan, observed) = plan(row.batch.iter().collect(), &current, 99);
            let states: Vec<(&str, i64)> = plan.states.iter().map(|(id, s)| (*id, s.checked_at_ms)).collect();
            assert_eq!(states, row.states, "{}: states", row.what);
            let changes: Vec<_> = plan
                .changes
                .iter()
                .map(|(id, at, from, to)| (*id, *at, from.map(Status::as_str), to.as_str()))
                .collect();
            assert_eq!(changes, row.changes, "{}: changes", row.what);
            assert_eq!(plan.run_start, row.run_start, "{}: runs", row.what);
            assert_eq!(observed, row.observed, "{}: observed", row.what);
            let latest: Vec<i64> = plan.latest.iter().map(|i| plan.fresh[*i].checked_at_ms).collect();
            assert_eq!(latest, row.states.iter().map(|(_, at)| *at).collect::<Vec<_>>(), "{}: latest", row.what);
            assert_eq!(plan.received, 99);
        }
    }
}
