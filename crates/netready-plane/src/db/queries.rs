//! The read side: lists, counts by readiness, the fleet view, history, storage sizes, pruning.

use sqlx::Row;

use super::columns::{degraded_of, get_named, get_named_opt, status_of};
use super::error::StoreError;
use super::runners::{RUNNER_WITH_STATE, runner_of, state_of};
use super::store::Store;
use super::types::*;
use crate::readiness::Ages;
use crate::time::{now_ms, rfc3339_ms};

/// A runner's rank by readiness, from `runners r LEFT JOIN runner_state s` with `$1` the time
/// before which a report is stale and `never_before` the time before which a registration without
/// a report is `never_reported`: 0 degraded, 1 never reported, 2 stale, 3 unknown, 4 ready
/// (crate::readiness::Readiness's order). The arms of a `CASE … END`. `never_before` is a number
/// the plane computed, written into the statement (not text from a request).
fn rank_arms(never_before: i64) -> String {
    format!(
        "WHEN s.runner_id IS NULL AND r.created_at < {never_before} THEN 1 WHEN s.runner_id IS NULL THEN 3 \
         WHEN s.last_received_at < $1 THEN 2 WHEN s.status = 'ready' THEN 4 ELSE 0"
    )
}

/// The tables that hold reports, for the storage benchmark.
const HISTORY_TABLES: [&str; 5] = ["checks", "history_bodies", "latest_reports", "runner_state", "status_changes"];

fn reach_of(r: &sqlx::any::AnyRow) -> Result<ReachCount, StoreError> {
    Ok(ReachCount {
        service: get_named(r, "service")?,
        region: r.try_get("region")?,
        access_type: get_named(r, "access_type")?,
        full: r.try_get("full_n")?,
        partial: r.try_get("partial_n")?,
        none: r.try_get("none_n")?,
    })
}

fn cause_of(r: &sqlx::any::AnyRow) -> Result<CauseRow, StoreError> {
    let values = |c: &str| -> Result<Values, StoreError> {
        Ok(Values {
            distinct: r.try_get(format!("{c}_distinct").as_str())?,
            known: r.try_get(format!("{c}_known").as_str())?,
            one: r.try_get(c)?,
        })
    };
    Ok(CauseRow {
        key: cause_key(r)?,
        runners: r.try_get("n")?,
        subnet_cidr: values("subnet_cidr")?,
        availability_zone: values("availability_zone")?,
        vpc_id: values("vpc_id")?,
        account_id: values("account_id")?,
        hint: r.try_get("hint")?,
        finding: r.try_get("finding")?,
    })
}

fn group_of(r: &sqlx::any::AnyRow) -> Result<GroupRow, StoreError> {
    Ok(GroupRow {
        key: cause_key(r)?,
        runners: r.try_get("n")?,
        subnet_cidr: r.try_get("subnet_cidr")?,
        availability_zone: r.try_get("availability_zone")?,
        vpc_id: r.try_get("vpc_id")?,
        account_id: r.try_get("account_id")?,
        hint: r.try_get("hint")?,
    })
}

fn cause_key(r: &sqlx::any::AnyRow) -> Result<CauseKey, StoreError> {
    Ok(CauseKey {
        service: get_named(r, "service")?,
        region: r.try_get("region")?,
        reachability: get_named(r, "reachability")?,
        access_type: get_named(r, "access_type")?,
        phase: get_named_opt(r, "phase")?,
        outcome: r.try_get("outcome")?,
    })
}

impl Store {
    /// How many runners there are of each readiness ([`Readiness::ALL`]'s order), revoked
    /// runners apart (the last number): they stopped reporting on purpose.
    pub async fn readiness_counts(&self, now_ms: i64, ages: Ages) -> Result<([i64; RANKS], i64), StoreError> {
        let sql = format!(
            "SELECT CASE WHEN r.revoked_at IS NOT NULL THEN {RANKS} {} END AS rank, COUNT(*) AS n \
             FROM runners r LEFT JOIN runner_state s ON s.runner_id = r.id GROUP BY 1",
            rank_arms(now_ms - ages.never_reported_after_ms)
        );
        let (mut by_rank, mut revoked) = ([0i64; RANKS], 0);
        for row in sqlx::query(&sql).bind(now_ms - ages.stale_after_ms).fetch_all(&self.pool).await? {
            let (r, n): (i64, i64) = (row.try_get("rank")?, row.try_get("n")?);
            match usize::try_from(r).ok().and_then(|r| by_rank.get_mut(r)) {
                Some(slot) => *slot = n,
                None => revoked = n,
            }
        }
        Ok((by_rank, revoked))
    }

    /// One page of runners with their state, problems first — the order and filters of
    /// [`crate::readiness::readiness`], computed by the database so that a page costs the same with
    /// ten thousand runners as with ten. Returns the number of matching runners and the page.
    pub async fn list_runners(&self, filter: &ListFilter) -> Result<RunnerPage, StoreError> {
        let rank = format!("CASE {} END", rank_arms(filter.now_ms - filter.ages.never_reported_after_ms));
        let pattern = filter.text.as_ref().map(|t| {
            let escaped = t.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            format!("%{escaped}%")
        });
        let text_condition =
            |n: usize| format!("(LOWER(r.name) LIKE ${n} ESCAPE '\\' OR LOWER(r.id) LIKE ${n} ESCAPE '\\')");
        let stale_before = filter.now_ms - filter.ages.stale_after_ms;

        // How many runners of each readiness match the text filter.
        let count_sql = format!(
            "SELECT {rank} AS rank, COUNT(*) AS n FROM runners r LEFT JOIN runner_state s ON s.runner_id = r.id \
             WHERE {} GROUP BY 1",
            if pattern.is_some() { text_condition(2) } else { "1 = 1".to_owned() }
        );
        let mut count = sqlx::query(&count_sql).bind(stale_before);
        if let Some(p) = &pattern {
            count = count.bind(p.clone());
        }
        let mut by_rank = [0i64; RANKS];
        for row in count.fetch_all(&self.pool).await? {
            let (r, n): (i64, i64) = (row.try_get("rank")?, row.try_get("n")?);
            if let Some(slot) = usize::try_from(r).ok().and_then(|r| by_rank.get_mut(r)) {
                *slot = n;
            }
        }

        // The page itself.
        let mut conditions = vec!["1 = 1".to_owned()];
        let mut next = 2;
        if filter.rank.is_some() {
            conditions.push(format!("{rank} = ${next}"));
            next += 1;
        }
        if pattern.is_some() {
            conditions.push(text_condition(next));
            next += 1;
        }
        let page_sql = format!(
            "{RUNNER_WITH_STATE} WHERE {} ORDER BY {rank}, r.name, r.id LIMIT ${next} OFFSET ${}",
            conditions.join(" AND "),
            next + 1
        );
        let mut page = sqlx::query(&page_sql).bind(stale_before);
        if let Some(rank) = filter.rank {
            page = page.bind(rank);
        }
        if let Some(p) = pattern {
            page = page.bind(p);
        }
        let rows = page.bind(filter.limit).bind(filter.offset).fetch_all(&self.pool).await?;
        let runners = rows
            .iter()
            .map(|r| Ok(RunnerRow { runner: runner_of(r)?, state: state_of(r)? }))
            .collect::<Result<_, StoreError>>()?;
        let total = match filter.rank {
            Some(r) => usize::try_from(r).ok().and_then(|r| by_rank.get(r)).copied().unwrap_or(0),
            None => by_rank.iter().sum(),
        };
        Ok(RunnerPage { total, by_rank, runners })
    }

    /// The fleet view, computed by the database from `runner_endpoints`: per service, region and
    /// access type how many runners reach it fully, partly, not; the degraded endpoints grouped by
    /// cause (service, region, reachability, access type, failing phase and outcome) with what the
    /// runners of each cause share; and the finest groups (each cause by subnet, zone, VPC,
    /// account), most runners first. Three GROUP BY queries and a count, whatever the fleet's size.
    pub async fn fleet(&self, filter: &FleetFilter) -> Result<FleetData, StoreError> {
        // Freshness is the runner's (its state's last report), not the row's: rows are written only
        // when a runner's network changes. The stale runners are the few to leave out (a set to
        // probe that is small, where the fresh ones would be nearly all).
        let mut conditions =
            vec!["runner_id NOT IN (SELECT runner_id FROM runner_state WHERE last_received_at < $1)".to_owned()];
        let mut next = 2;
        let service = filter.service.map(|s| s.as_str().to_owned());
        for (column, value) in [("region", &filter.region), ("service", &service)] {
            if value.is_some() {
                conditions.push(format!("{column} = ${next}"));
                next += 1;
            }
        }
        let filtered = conditions.join(" AND ");
        fn bind<'q>(
            sql: &'q str,
            filter: &FleetFilter,
        ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
            let mut q = sqlx::query(sql).bind(filter.fresh_since_ms);
            if let Some(region) = &filter.region {
                q = q.bind(region.clone());
            }
            if let Some(service) = filter.service {
                q = q.bind(service.as_str());
            }
            q
        }
        let count = |reach: &str| format!("SUM(CASE WHEN reachability = '{reach}' THEN 1 ELSE 0 END) AS {reach}_n");
        let sql = format!(
            "SELECT service, region, access_type, {}, {}, {} FROM runner_endpoints WHERE {filtered} \
             GROUP BY service, region, access_type ORDER BY service, region, access_type",
            count("full"),
            count("partial"),
            count("none")
        );
        const CAUSE: &str = "service, region, reachability, access_type, phase, outcome";
        let shared = |c: &str| format!("COUNT(DISTINCT {c}) AS {c}_distinct, COUNT({c}) AS {c}_known, MIN({c}) AS {c}");
        let cause_sql = format!(
            "SELECT {CAUSE}, COUNT(*) AS n, {}, {}, {}, {}, MIN(hint) AS hint, MIN(finding) AS finding \
             FROM runner_endpoints WHERE reachability <> 'full' AND {filtered} GROUP BY {CAUSE} \
             ORDER BY n DESC, {CAUSE} LIMIT ${next}",
            shared("subnet_cidr"),
            shared("availability_zone"),
            shared("vpc_id"),
            shared("account_id"),
        );
        const WHERE: &str = "subnet_cidr, availability_zone, vpc_id, account_id";
        let group_sql = format!(
            "SELECT {CAUSE}, {WHERE}, COUNT(*) AS n, MIN(hint) AS hint FROM runner_endpoints WHERE reachability <> 'full' AND {filtered} \
             GROUP BY {CAUSE}, {WHERE} ORDER BY n DESC, {CAUSE}, {WHERE} LIMIT ${next}"
        );
        // The runners themselves: how many, how many never reported, are stale, are degraded.
        let runners_query = sqlx::query(
            "SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN s.runner_id IS NULL THEN 1 ELSE 0 END), 0) AS never, \
             COALESCE(SUM(CASE WHEN s.last_received_at < $1 THEN 1 ELSE 0 END), 0) AS stale, \
             COALESCE(SUM(CASE WHEN s.last_received_at >= $1 AND s.status <> 'ready' THEN 1 ELSE 0 END), 0) AS degraded \
             FROM runners r LEFT JOIN runner_state s ON s.runner_id = r.id",
        )
        .bind(filter.stale_before_ms)
        .fetch_one(&self.pool);
        // Four queries at once, each on its own pooled connection (SQLite's WAL lets readers run
        // side by side): the page waits for the slowest, not for the sum.
        let (reach, causes, groups, row) = tokio::try_join!(
            bind(&sql, filter).fetch_all(&self.pool),
            bind(&cause_sql, filter).bind(filter.limit).fetch_all(&self.pool),
            bind(&group_sql, filter).bind(filter.limit).fetch_all(&self.pool),
            runners_query,
        )?;
        let reach = reach.iter().map(reach_of).collect::<Result<Vec<_>, StoreError>>()?;
        let causes = causes.iter().map(cause_of).collect::<Result<Vec<_>, StoreError>>()?;
        let groups = groups.iter().map(group_of).collect::<Result<Vec<_>, StoreError>>()?;
        let runners = FleetRunners {
            total: row.try_get("total")?,
            never_reported: row.try_get("never")?,
            stale: row.try_get("stale")?,
            degraded: row.try_get("degraded")?,
        };
        Ok(FleetData { runners, reach, causes, groups })
    }

    /// Per runner of `ids`: of its checks since `day_since_ms` and since `week_since_ms`, how many
    /// and how many ready. One query over the `checks` primary key; runners without checks in the
    /// week are absent.
    pub async fn uptime(&self, ids: &[&str], day_since_ms: i64, week_since_ms: i64) -> Result<Vec<Uptime>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT runner_id, \
             SUM(CASE WHEN checked_at_ms >= $1 THEN 1 ELSE 0 END) AS day_n, \
             SUM(CASE WHEN checked_at_ms >= $1 AND status = 'ready' THEN 1 ELSE 0 END) AS day_ready, \
             COUNT(*) AS week_n, SUM(CASE WHEN status = 'ready' THEN 1 ELSE 0 END) AS week_ready \
             FROM checks WHERE checked_at_ms >= $2 AND runner_id IN ({}) GROUP BY runner_id",
            (3..3 + ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
        );
        let mut q = sqlx::query(&sql).bind(day_since_ms).bind(week_since_ms);
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(Uptime {
                    runner_id: r.try_get("runner_id")?,
                    day: (r.try_get("day_ready")?, r.try_get("day_n")?),
                    week: (r.try_get("week_ready")?, r.try_get("week_n")?),
                })
            })
            .collect()
    }

    /// The statuses of the checks of `ids` since `since_ms`, oldest first: (runner id, time, status).
    pub async fn recent_statuses(&self, ids: &[&str], since_ms: i64) -> Result<Vec<(String, i64, String)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT runner_id, checked_at_ms, status FROM checks WHERE checked_at_ms >= $1 AND runner_id IN ({}) \
             ORDER BY runner_id, checked_at_ms",
            (2..2 + ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
        );
        let mut q = sqlx::query(&sql).bind(since_ms);
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("runner_id")?, r.try_get("checked_at_ms")?, r.try_get("status")?)))
            .collect()
    }

    pub async fn changes(&self, id: &str, limit: i64) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, from_status, to_status FROM status_changes WHERE runner_id = $1 ORDER BY at_ms DESC LIMIT $2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Change {
                    at_ms: r.try_get("at_ms")?,
                    from_status: r
                        .try_get::<Option<String>, _>("from_status")?
                        .as_deref()
                        .map(status_of)
                        .transpose()?,
                    to_status: status_of(&r.try_get::<String, _>("to_status")?)?,
                })
            })
            .collect()
    }

    pub async fn recent_reports(&self, id: &str, limit: i64) -> Result<Vec<ReportLine>, StoreError> {
        let rows = sqlx::query(
            "SELECT checked_at_ms, received_at, status, degraded, summary FROM checks WHERE runner_id = $1 \
             ORDER BY checked_at_ms DESC LIMIT $2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReportLine {
                    checked_at: rfc3339_ms(r.try_get("checked_at_ms")?),
                    received_at: r.try_get("received_at")?,
                    status: status_of(&r.try_get::<String, _>("status")?)?,
                    degraded: degraded_of(&r.try_get::<String, _>("degraded")?)?,
                    summary: r.try_get("summary")?,
                })
            })
            .collect()
    }

    /// Bytes the database takes for reports: on SQLite the whole file after a WAL checkpoint, on
    /// PostgreSQL every table that holds reports, with its indexes and TOAST, after a `VACUUM`.
    /// For the storage benchmark.
    pub async fn report_storage_bytes(&self) -> Result<i64, StoreError> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await?;
                let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&self.pool).await?;
                let size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&self.pool).await?;
                Ok(pages * size)
            }
            Backend::Postgres => {
                let mut total = 0;
                for table in HISTORY_TABLES {
                    sqlx::raw_sql(&format!("VACUUM {table}")).execute(&self.pool).await?;
                    total += sqlx::query_scalar::<_, i64>(&format!("SELECT pg_total_relation_size('{table}')::BIGINT"))
                        .fetch_one(&self.pool)
                        .await?;
                }
                Ok(total)
            }
        }
    }

    /// How many of a runner's past reports keep their full body in history (the first of each
    /// run, and late reports); the newest report's body is kept besides, in `latest_reports`.
    pub async fn count_bodies(&self, id: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM history_bodies WHERE runner_id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?)
    }

    /// When each of a runner's fleet rows was written (the `checked_at_ms` of the report that
    /// wrote it), in service order. For tests: a steady network must not rewrite them.
    #[doc(hidden)]
    pub async fn fleet_rows_written(&self, id: &str) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT checked_at_ms FROM runner_endpoints WHERE runner_id = $1 ORDER BY service",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn count_reports(&self, id: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM checks WHERE runner_id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Deletes checks (with their bodies) and status changes from before `before_ms`, except each
    /// runner's newest check. Returns how many checks went.
    pub async fn prune(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM checks WHERE checked_at_ms < $1 AND NOT EXISTS (SELECT 1 FROM runner_state s \
             WHERE s.runner_id = checks.runner_id AND s.checked_at_ms = checks.checked_at_ms)",
        )
        .bind(before_ms)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM history_bodies WHERE checked_at_ms < $1").bind(before_ms).execute(&self.pool).await?;
        sqlx::query("DELETE FROM status_changes WHERE at_ms < $1").bind(before_ms).execute(&self.pool).await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(now_ms()).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}
