//! The delivery worker `serve` runs beside the API: it announces runners that went stale, claims
//! due notifications from the outbox (a lease per row), sends them, and records the outcome —
//! delivered, or a retry after a backoff; a notification still undelivered after `give_up_after`
//! is given up (logged, counted, shown), so that a receiver gone for good does not leave work
//! behind forever. It never touches the report writer: a receiver that is
//! down or slow delays only notifications, never ingest; and each channel has its own lane (a
//! bound on sends in flight, a circuit breaker), so a receiver that hangs or keeps failing
//! delays only its own channel's notifications.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use super::event::{Event, Kind, Notification, Payload};
use super::group::{GROUP_MAX, group_event, group_id};
pub use super::send::{Outcome, Sender, TestSent, send_test};
use super::{SEND_TIMEOUT, backoff};
use crate::db::alerts::{Channel, Claimed, DeliveryState};
use crate::db::{Store, StoreError};
use crate::time::now_ms;
use netready_process::log;

/// How the worker runs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a claimed notification is held before another worker may retry it (longer than
    /// one attempt's deadline).
    pub lease: Duration,
    /// The longest wait between attempts.
    pub retry_max: Duration,
    /// How long after it was written an undelivered notification is given up.
    pub give_up_after: Duration,
    /// How often to look for due notifications and stale runners when nothing woke the worker.
    pub poll: Duration,
    /// A runner with nothing received for this long is stale.
    pub stale_after: Duration,
    /// A runner registered this long ago without a report is `never_reported`.
    pub never_reported_after: Duration,
    /// Grouping (`--alert-group-window`): zero sends each notification on its own; else once a
    /// channel's oldest undelivered notification is this old, what it has due of one kind goes as
    /// one grouped notification.
    pub group_window: Duration,
}

impl Settings {
    pub fn new(stale_after: Duration) -> Self {
        Self {
            lease: super::DEFAULT_LEASE,
            retry_max: super::DEFAULT_RETRY_MAX,
            give_up_after: super::DEFAULT_GIVE_UP_AFTER,
            poll: super::DEFAULT_POLL,
            stale_after,
            never_reported_after: crate::config::DEFAULT_NEVER_REPORTED_AFTER,
            group_window: Duration::ZERO,
        }
    }
}

pub use crate::metrics::DeliveryCounters as Counters;

/// The most notifications one worker sends at once to one channel: a receiver that hangs holds
/// these and no more, and never another channel's.
pub const PER_CHANNEL: usize = 16;
/// Consecutive failed attempts to one channel after which it is paused (its breaker opens).
pub const BREAKER_FAILURES: u32 = 5;
/// How long the first pause lasts; it doubles while the receiver keeps failing, up to
/// `--alert-retry-max`.
pub const BREAKER_PAUSE: Duration = Duration::from_secs(5);

/// A channel's circuit breaker, in this process: after [`BREAKER_FAILURES`] failed attempts in a
/// row the channel is paused (nothing claimed for it), then tried with one notification; a
/// delivery closes it, a failure pauses it again for twice as long. Its notifications wait in the
/// outbox meanwhile, and are given up as usual if it never comes back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Breaker {
    failures: u32,
    paused_until: Option<tokio::time::Instant>,
    pause: Duration,
}

impl Breaker {
    /// How many sends may be in flight for the channel now: none while paused, one to try a
    /// paused channel again, else [`PER_CHANNEL`].
    pub fn capacity(&self, now: tokio::time::Instant) -> usize {
        match self.paused_until {
            Some(until) if now < until => 0,
            Some(_) => 1,
            None => PER_CHANNEL,
        }
    }

    /// Whether it is paused now.
    pub fn is_paused(&self, now: tokio::time::Instant) -> bool {
        self.capacity(now) == 0
    }

    /// Records an attempt's result; returns the pause when this one paused the channel.
    pub fn record(&mut self, delivered: bool, now: tokio::time::Instant, max: Duration) -> Option<Duration> {
        if delivered {
            *self = Breaker::default();
            return None;
        }
        self.failures = self.failures.saturating_add(1);
        self.pause = match self.paused_until {
            // Sent before the pause began: it is paused already.
            Some(until) if now < until => return None,
            // The one try after a pause failed: pause again, for longer.
            Some(_) => self.pause.saturating_mul(2).min(max),
            None if self.failures >= BREAKER_FAILURES => BREAKER_PAUSE.min(max),
            None => return None,
        };
        self.paused_until = Some(now + self.pause);
        Some(self.pause)
    }
}

/// What one channel's lane holds in this worker.
#[derive(Debug, Default)]
struct Lane {
    in_flight: usize,
    breaker: Breaker,
    /// The last claim found less than it asked for: nothing to claim until woken, polled, or one
    /// of its sends ends (which may let a runner's next notification go).
    drained: bool,
}

/// A send that ended: its channel and whether it was delivered.
type Done = (String, bool);

/// The delivery worker: one lane per channel, each with at most [`PER_CHANNEL`] sends in flight
/// and its own breaker. It never waits for a send: claims are made per channel for the free
/// slots, sends run on their own, and each one that ends frees its slot.
#[derive(Debug)]
pub struct Worker {
    store: Store,
    settings: Settings,
    sender: Sender,
    lanes: std::collections::HashMap<String, Lane>,
    done_tx: tokio::sync::mpsc::UnboundedSender<Done>,
    done_rx: tokio::sync::mpsc::UnboundedReceiver<Done>,
}

impl Worker {
    pub fn new(store: Store, settings: Settings, sender: Sender) -> Self {
        let (done_tx, done_rx) = tokio::sync::mpsc::unbounded_channel();
        Self { store, settings, sender, lanes: Default::default(), done_tx, done_rx }
    }

    /// Claims, for every channel with free slots, what is due, and starts sending it. Returns how
    /// many were claimed.
    pub async fn claim_round(&mut self) -> Result<usize, StoreError> {
        let channels = self.store.alert_channels().await?;
        let now = tokio::time::Instant::now();
        self.lanes.retain(|id, _| channels.iter().any(|c| &c.id == id));
        let grouping = !self.settings.group_window.is_zero();
        let oldest_before = grouping.then(|| now_ms() - self.settings.group_window.as_millis() as i64);
        let mut claimed = 0;
        for channel in channels {
            let lane = self.lanes.entry(channel.id.clone()).or_default();
            let free = lane.breaker.capacity(now).saturating_sub(lane.in_flight);
            // Grouping sends one batch per kind at a time: what comes meanwhile joins the next.
            if free == 0 || lane.drained || (grouping && lane.in_flight > 0) {
                continue;
            }
            let limit = if grouping { GROUP_MAX } else { free };
            let rows = self
                .store
                .claim_channel_alerts(
                    &channel.id,
                    now_ms(),
                    self.settings.lease.as_millis() as i64,
                    limit as i64,
                    oldest_before,
                )
                .await?;
            lane.drained = rows.len() < limit;
            claimed += rows.len();
            let batches = if grouping { by_kind(rows) } else { rows.into_iter().map(|c| vec![c]).collect() };
            lane.in_flight += batches.len();
            let channel = std::sync::Arc::new(channel);
            for mut batch in batches {
                let (store, sender, settings, done) =
                    (self.store.clone(), self.sender.clone(), self.settings, self.done_tx.clone());
                let channel = channel.clone();
                tokio::spawn(async move {
                    let sent = match batch.len() {
                        1 => deliver_one(&store, &settings, &sender, &channel, batch.swap_remove(0)).await,
                        _ => deliver_group(&store, &settings, &sender, &channel, batch).await,
                    };
                    let delivered = sent.unwrap_or_else(|e| {
                        log::warn("cannot record a delivery", &[("error", json!(e.to_string()))]);
                        false
                    });
                    let _ = done.send((channel.id.clone(), delivered));
                });
            }
        }
        Ok(claimed)
    }

    /// Frees the slot of a send that ended and feeds its channel's breaker.
    fn ended(&mut self, (channel_id, delivered): Done) {
        let Some(lane) = self.lanes.get_mut(&channel_id) else { return };
        lane.in_flight = lane.in_flight.saturating_sub(1);
        lane.drained = false;
        let now = tokio::time::Instant::now();
        let was_paused = lane.breaker.paused_until.is_some();
        if let Some(pause) = lane.breaker.record(delivered, now, self.settings.retry_max.max(BREAKER_PAUSE)) {
            log::warn(
                "alert channel paused: its receiver keeps failing",
                &[("channel_id", json!(channel_id)), ("pause_ms", json!(pause.as_millis() as u64))],
            );
        } else if was_paused && delivered {
            log::info("alert channel resumed: its receiver took a notification", &[("channel_id", json!(channel_id))]);
        }
    }

    /// Every lane may claim again (woken by a commit, or the poll).
    fn undrain(&mut self) {
        self.lanes.values_mut().for_each(|l| l.drained = false);
    }

    /// Channels paused now, for `/metrics`.
    fn paused(&self) -> usize {
        let now = tokio::time::Instant::now();
        self.lanes.values().filter(|l| l.breaker.is_paused(now)).count()
    }

    /// Waits until all sends in flight have ended (for one-round callers and tests).
    pub async fn settle(&mut self) {
        while self.lanes.values().any(|l| l.in_flight > 0) {
            match self.done_rx.recv().await {
                Some(done) => self.ended(done),
                None => return,
            }
        }
    }

    /// Runs until the task is aborted: sweeps stale runners, gives up what is overdue, and keeps
    /// every channel's lane busy.
    pub async fn run(mut self) {
        let poll = self.settings.poll;
        let mut last_sweep: Option<tokio::time::Instant> = None;
        loop {
            if last_sweep.is_none_or(|t| t.elapsed() >= poll) {
                last_sweep = Some(tokio::time::Instant::now());
                let now = now_ms();
                match self.store.sweep_stale(now, now - self.settings.stale_after.as_millis() as i64).await {
                    Ok(0) => {}
                    Ok(n) => log::info("runners went stale", &[("runners", json!(n))]),
                    Err(e) => log::warn("the stale sweep failed", &[("error", json!(e.to_string()))]),
                }
                let registered_before = now - self.settings.never_reported_after.as_millis() as i64;
                match self.store.sweep_never_reported(now, registered_before).await {
                    Ok(0) => {}
                    Ok(n) => log::info("runners never reported", &[("runners", json!(n))]),
                    Err(e) => log::warn("the never-reported sweep failed", &[("error", json!(e.to_string()))]),
                }
                give_up_overdue(&self.store, now, self.settings.give_up_after).await;
                self.undrain();
            }
            if let Err(e) = self.claim_round().await {
                log::warn("cannot claim notifications", &[("error", json!(e.to_string()))]);
            }
            self.store.alert_counters().paused.store(self.paused() as u64, Ordering::Relaxed);
            let until_poll = poll.saturating_sub(last_sweep.map_or(Duration::ZERO, |t| t.elapsed()));
            tokio::select! {
                done = self.done_rx.recv() => {
                    if let Some(done) = done {
                        self.ended(done);
                    }
                    // Take every send that ended meanwhile before claiming again.
                    while let Ok(done) = self.done_rx.try_recv() {
                        self.ended(done);
                    }
                }
                () = self.store.alerts_written() => self.undrain(),
                () = tokio::time::sleep(until_poll) => {}
            }
        }
    }
}

/// Runs the delivery worker until the task is aborted.
pub async fn run(store: Store, settings: Settings, sender: Sender) {
    Worker::new(store, settings, sender).run().await;
}

/// How many notifications one round gives up at most (a backlog goes over several polls).
const GIVE_UP_BATCH: i64 = 500;
/// How many of them get a log line each; the rest are counted in one.
const GIVE_UP_LOGGED: usize = 10;

/// Gives up the notifications undelivered for longer than `give_up_after`, with a warning.
pub async fn give_up_overdue(store: &Store, now: i64, give_up_after: Duration) {
    let created_before = now.saturating_sub(i64::try_from(give_up_after.as_millis()).unwrap_or(i64::MAX));
    match store.expire_alerts(now, created_before, GIVE_UP_BATCH).await {
        Ok(expired) => {
            store.alert_counters().given_up.fetch_add(expired.len() as u64, Ordering::Relaxed);
            if expired.len() > GIVE_UP_LOGGED {
                log::warn(
                    "notifications given up: not delivered in time (the first ones follow)",
                    &[("count", json!(expired.len())), ("give_up_after_s", json!(give_up_after.as_secs()))],
                );
            }
            for e in expired.into_iter().take(GIVE_UP_LOGGED) {
                log::warn(
                    "notification given up: not delivered in time",
                    &[
                        ("id", json!(e.id)),
                        ("channel_id", json!(e.channel_id)),
                        ("runner_id", json!(e.runner_id)),
                        ("kind", json!(e.kind)),
                        ("attempts", json!(e.attempts)),
                        ("last_error", json!(e.last_error)),
                        ("give_up_after_s", json!(give_up_after.as_secs())),
                    ],
                );
            }
        }
        Err(e) => log::warn("cannot give up overdue notifications", &[("error", json!(e.to_string()))]),
    }
}

/// One round, waited for: claims what is due for every channel (at most [`PER_CHANNEL`] each),
/// sends it and waits for every send; returns how many were claimed. `serve` does not wait like
/// this ([`Worker::run`]); tests and one-off callers do.
pub async fn deliver_due(store: &Store, settings: &Settings, sender: &Sender) -> Result<usize, StoreError> {
    let mut worker = Worker::new(store.clone(), *settings, sender.clone());
    let claimed = worker.claim_round().await?;
    worker.settle().await;
    Ok(claimed)
}

/// Claimed notifications by kind, in claim order, for grouping (one that does not read back goes
/// alone, and its delivery says why it failed).
fn by_kind(rows: Vec<Claimed>) -> Vec<Vec<Claimed>> {
    let mut batches: Vec<(Option<Kind>, Vec<Claimed>)> = Vec::new();
    for c in rows {
        match Event::read(&c.payload).ok().map(|e| e.kind) {
            None => batches.push((None, vec![c])),
            Some(kind) => match batches.iter_mut().find(|(k, _)| *k == Some(kind)) {
                Some((_, batch)) => batch.push(c),
                None => batches.push((Some(kind), vec![c])),
            },
        }
    }
    batches.into_iter().map(|(_, b)| b).collect()
}

/// Sends several claimed notifications of one kind as one grouped notification and records the
/// outcome on each; returns whether it was delivered.
async fn deliver_group(
    store: &Store,
    settings: &Settings,
    sender: &Sender,
    channel: &Channel,
    batch: Vec<Claimed>,
) -> Result<bool, StoreError> {
    let members: Vec<Event> = batch.iter().filter_map(|c| Event::read(&c.payload).ok()).collect();
    let ids: Vec<&str> = batch.iter().map(|c| c.id.as_str()).collect();
    let id = group_id(&ids);
    let kind = members.first().map_or(Kind::Degraded, |m| m.kind);
    let group = Payload::of(Notification::Group(group_event(&id, kind, members, now_ms())));
    let outcome = sender.send(channel, &id, &group, attempt_deadline(settings.lease)).await;
    let counters = store.alert_counters();
    let fields = [("id", json!(id)), ("channel_id", json!(channel.id)), ("notifications", json!(batch.len()))];
    match outcome {
        Outcome::Delivered { status } => {
            counters.delivered.fetch_add(batch.len() as u64, Ordering::Relaxed);
            log::info("grouped notification delivered", &[&fields[..], &[("status", json!(status))]].concat());
            for c in &batch {
                store.alert_delivered(&c.id, now_ms()).await?;
            }
            Ok(true)
        }
        Outcome::Failed { reason } => {
            counters.failed.fetch_add(batch.len() as u64, Ordering::Relaxed);
            log::warn(
                "grouped notification not delivered; will retry",
                &[&fields[..], &[("error", json!(reason))]].concat(),
            );
            for c in &batch {
                let wait = backoff(u32::try_from(c.attempts).unwrap_or(u32::MAX), settings.retry_max);
                store.alert_failed(c, now_ms() + wait.as_millis() as i64, &reason).await?;
            }
            Ok(false)
        }
    }
}

/// Sends one claimed notification and records the outcome; returns whether it was delivered.
async fn deliver_one(
    store: &Store,
    settings: &Settings,
    sender: &Sender,
    channel: &Channel,
    c: Claimed,
) -> Result<bool, StoreError> {
    let outcome = sender.send(channel, &c.id, &Payload::stored(&c.payload), attempt_deadline(settings.lease)).await;
    let counters = store.alert_counters();
    let fields = [("id", json!(c.id)), ("channel_id", json!(channel.id)), ("attempt", json!(c.attempts))];
    match outcome {
        Outcome::Delivered { status } => {
            counters.delivered.fetch_add(1, Ordering::Relaxed);
            log::info("notification delivered", &[&fields[..], &[("status", json!(status))]].concat());
            store.alert_delivered(&c.id, now_ms()).await?;
            Ok(true)
        }
        Outcome::Failed { reason } => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            let wait = backoff(u32::try_from(c.attempts).unwrap_or(u32::MAX), settings.retry_max);
            log::warn(
                "notification not delivered; will retry",
                &[&fields[..], &[("error", json!(reason)), ("retry_in_ms", json!(wait.as_millis() as u64))]].concat(),
            );
            store.alert_failed(&c, now_ms() + wait.as_millis() as i64, &reason).await?;
            Ok(false)
        }
    }
}

/// How long one attempt may take: [`SEND_TIMEOUT`], and well inside the lease, so that no other
/// worker takes the notification over (and no sweep gives it up) while it is on its way.
pub fn attempt_deadline(lease: Duration) -> Duration {
    SEND_TIMEOUT.min(lease.mul_f64(0.75))
}

/// The alerts' lines of `/metrics`: the outbox by state (shared by every replica) and this
/// process's attempts by result.
pub async fn render_metrics(store: &Store, out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP netready_plane_alert_notifications Notifications in the outbox, by state (pending, failing: the last attempt failed, delivered, expired: given up).\n\
         # TYPE netready_plane_alert_notifications gauge"
    );
    match store.alert_counts().await {
        Ok(c) => {
            for state in DeliveryState::ALL {
                let _ =
                    writeln!(out, "netready_plane_alert_notifications{{state=\"{}\"}} {}", state.as_str(), c.of(state));
            }
        }
        Err(_) => {
            let _ = writeln!(out, "# the database did not answer");
        }
    }
    let counters = store.alert_counters();
    let _ = writeln!(
        out,
        "# HELP netready_plane_alert_attempts_total Delivery attempts by this process, by result.\n\
         # TYPE netready_plane_alert_attempts_total counter\n\
         netready_plane_alert_attempts_total{{result=\"delivered\"}} {}\n\
         netready_plane_alert_attempts_total{{result=\"failed\"}} {}",
        counters.delivered.load(Ordering::Relaxed),
        counters.failed.load(Ordering::Relaxed)
    );
    // Each given-up notification is counted by the one replica that gave it up: sum them.
    let _ = writeln!(
        out,
        "# HELP netready_plane_alert_notifications_given_up_total Notifications this process gave up (not delivered within --alert-give-up-after).\n\
         # TYPE netready_plane_alert_notifications_given_up_total counter\n\
         netready_plane_alert_notifications_given_up_total {}",
        counters.given_up.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP netready_plane_alert_channels_paused Channels this process pauses now: their receiver failed {BREAKER_FAILURES} times in a row.\n\
         # TYPE netready_plane_alert_channels_paused gauge\n\
         netready_plane_alert_channels_paused {}",
        counters.paused.load(Ordering::Relaxed)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_breaker_pauses_a_failing_channel_tries_it_once_and_backs_off() {
        let t0 = tokio::time::Instant::now();
        let max = Duration::from_secs(60);
        let mut b = Breaker::default();
        assert_eq!(b.capacity(t0), PER_CHANNEL);
        for _ in 1..BREAKER_FAILURES {
            assert_eq!(b.record(false, t0, max), None);
        }
        assert_eq!(b.capacity(t0), PER_CHANNEL, "not paused before {BREAKER_FAILURES} failures");
        assert_eq!(b.record(false, t0, max), Some(BREAKER_PAUSE));
        assert_eq!(b.capacity(t0), 0);
        assert_eq!(b.record(false, t0, max), None, "a send from before the pause: paused already");
        let later = t0 + BREAKER_PAUSE;
        assert_eq!(b.capacity(later), 1, "one try once the pause is over");
        assert_eq!(b.record(false, later, max), Some(BREAKER_PAUSE * 2), "the try failed: twice as long");
        let mut much_later = later;
        for _ in 0..10 {
            much_later += b.pause;
            b.record(false, much_later, max);
        }
        assert_eq!(b.pause, max, "never longer than the cap");
        assert_eq!(b.record(true, much_later, max), None);
        assert_eq!((b.capacity(much_later), b), (PER_CHANNEL, Breaker::default()), "a delivery closes it");
        let mut mixed = Breaker::default();
        for i in 0..20 {
            mixed.record(i % 2 == 0, t0, max);
        }
        assert_eq!(mixed.capacity(t0), PER_CHANNEL, "failures must be in a row");
    }
}
