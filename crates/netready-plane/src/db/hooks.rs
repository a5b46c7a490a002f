//! What the store is handed when it opens, rather than making it: the counters its writer feeds,
//! and what the report writer shares with alert delivery (the policy that confirms changes, the
//! wake-up of the delivery worker, its counters). `serve` makes them; tests take the defaults.

use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

use crate::alerts::Policy;
use crate::metrics::{DeliveryCounters, Metrics};

/// Everything the store is handed.
#[derive(Debug, Clone, Default)]
pub struct StoreHooks {
    /// The writer's batch sizes and commit latency.
    pub metrics: Arc<Metrics>,
    pub alerts: AlertHooks,
}

/// What the report writer and the delivery worker share: the policy `serve` configured, and a
/// way to wake the worker when a commit wrote notifications.
#[derive(Debug, Clone, Default)]
pub struct AlertHooks {
    pub policy: Arc<RwLock<Policy>>,
    pub wake: Arc<Notify>,
    pub counters: Arc<DeliveryCounters>,
}
