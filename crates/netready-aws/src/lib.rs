//! Reads a Fargate task's network from the AWS APIs (ECS, EC2, Route 53 and Route 53 Resolver, through the AWS SDK for Rust and
//! its default credential chain) into [`netready_diagnose::NetworkFacts`].
//!
//! Discovery never fails as a whole for a single call: a refused action becomes a
//! [`Gap::Denied`] naming the IAM action, any other failure a [`Gap::Failed`], and what could be
//! read is still returned. Every call has a timeout, and the whole discovery a budget; calls that
//! do not depend on each other run concurrently. Only locating the task's ENI is essential:
//! without it there is nothing to diagnose ([`Discovery::Unavailable`]).
//!
//! The SDK honours `AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`, container credentials and IMDS
//! as usual. Its HTTPS client is rustls on ring: no OpenSSL and no aws-lc.
//!
//! The SDK is behind the `sdk` feature (the `netready` binary's `aws` feature, on by default):
//! it is most of a release build's time. Without it the types and rules here stay, and
//! [`discover`] says that this build cannot read the AWS APIs.

#[cfg(feature = "sdk")]
mod calls;
#[cfg(feature = "sdk")]
mod convert;
pub mod diagnosis;
mod discovery;
#[cfg(feature = "sdk")]
mod dns;
#[cfg(feature = "sdk")]
mod locate;
pub mod network;
#[cfg(feature = "sdk")]
mod sdk;

pub use discovery::{
    DEFAULT_BUDGET, DEFAULT_CALL_TIMEOUT, Discovery, IAM_ACTIONS, Network, Options, Read, Subject,
    credentials_in_environment, denial_in_body, is_denied,
};
pub use netready_diagnose::AwsApi;
#[cfg(feature = "sdk")]
pub use sdk::{discover_with_config, http_client, read_with_config};

/// Reads the task's network. Never panics; finding credentials and every call together stay
/// within `options.budget` (loading the SDK's configuration comes before it).
#[cfg(feature = "sdk")]
pub async fn discover(options: &Options) -> Discovery {
    if options.mode == AwsApi::Off {
        return Discovery::Skipped("--aws-api off".into());
    }
    sdk::discover(&with_region(options)).await
}

/// The task lives in its ARN's region: that beats the SDK's default.
#[cfg(feature = "sdk")]
fn with_region(options: &Options) -> Options {
    let mut options = options.clone();
    if options.region.is_none() {
        options.region = options
            .task_arn
            .as_deref()
            .and_then(|arn| arn.split(':').nth(3))
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
    }
    options
}

/// Reads the network of the task(s) `options.subject` names (one per subnet), for the diagnosis.
#[cfg(feature = "sdk")]
pub async fn read(options: &Options) -> Read {
    if options.mode == AwsApi::Off {
        return Read::Skipped("--aws-api off".into());
    }
    sdk::read(&with_region(options)).await
}

/// Why a build without the `sdk` feature cannot read the AWS APIs.
#[cfg(not(feature = "sdk"))]
pub const NO_SDK: &str = "this netready was built without the AWS API (cargo feature `aws`, on by default)";

/// In a build without the AWS SDK: says so, as [`discover`] does.
#[cfg(not(feature = "sdk"))]
pub async fn read(options: &Options) -> Read {
    match discover(options).await {
        Discovery::Skipped(r) => Read::Skipped(r),
        Discovery::Unavailable { reason, gaps } => Read::Unavailable { reason, gaps },
        Discovery::Facts(_) => Read::Unavailable { reason: NO_SDK.into(), gaps: vec![] },
    }
}

/// Reads the task's network: in a build without the AWS SDK, only says so — skipped for
/// `--aws-api auto`, unavailable for `required`.
#[cfg(not(feature = "sdk"))]
pub async fn discover(options: &Options) -> Discovery {
    match options.mode {
        AwsApi::Off => Discovery::Skipped("--aws-api off".into()),
        AwsApi::Auto => Discovery::Skipped(NO_SDK.into()),
        AwsApi::Required => Discovery::Unavailable { reason: NO_SDK.into(), gaps: vec![] },
    }
}
