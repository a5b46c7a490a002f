//! One AWS call as discovery makes it: under a per-call deadline within the overall budget
//! ([`Clock`]), every page collected, and any failure turned into a [`Gap`] in one line a person
//! can act on — never the SDK's `Debug`. A leaf: the reads (`sdk`, `locate`, `dns`) use it.

use std::future::Future;
use std::time::Duration;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use netready_diagnose::facts::Gap;
use tokio::time::Instant;

use crate::discovery::{denial_in_body, is_denied};

/// A per-call deadline under the overall budget.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    pub(crate) budget_end: Instant,
    pub(crate) call_timeout: Duration,
    /// The EC2, ECS, Route 53 and Route 53 Resolver endpoints, for a message a person can act on.
    pub(crate) ec2: String,
    pub(crate) ecs: String,
    pub(crate) route53: String,
    pub(crate) resolver: String,
}

impl Clock {
    /// `fut` within this call's deadline: its own result, or the gap of a timeout.
    pub(crate) async fn within<F: Future>(&self, action: &str, fut: F) -> Result<F::Output, Gap> {
        let end = (Instant::now() + self.call_timeout).min(self.budget_end);
        tokio::time::timeout_at(end, fut).await.map_err(|_| Gap::Failed {
            action: action.to_owned(),
            message: if end == self.budget_end {
                "the discovery's time budget ran out".to_owned()
            } else {
                format!("no answer within {} ms", self.call_timeout.as_millis())
            },
        })
    }

    pub(crate) async fn call<T, E, F>(&self, action: &str, fut: F) -> Result<T, Gap>
    where
        F: Future<Output = Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.within(action, fut).await?.map_err(|err| self.gap(action, &err))
    }

    pub(crate) fn gap<E>(&self, action: &str, err: &SdkError<E, aws_smithy_runtime_api::http::Response>) -> Gap
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let endpoint = match action.split(':').next() {
            Some("ecs") => &self.ecs,
            Some("route53") => &self.route53,
            Some("route53resolver") => &self.resolver,
            _ => &self.ec2,
        };
        gap(action, endpoint, err)
    }
}

/// The last error of `err`'s chain: the one that says what happened ("Connection refused").
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last: &(dyn std::error::Error + 'static) = err;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// One line for a failure without an AWS error code: what failed, where, and the root cause —
/// never the SDK's `Debug`.
fn failure<E>(endpoint: &str, err: &SdkError<E, aws_smithy_runtime_api::http::Response>) -> String
where
    E: std::error::Error + 'static,
{
    let root = root_cause(err);
    let text = match err {
        SdkError::DispatchFailure(d) if d.is_timeout() => format!("no connection to {endpoint} in time: {root}"),
        SdkError::DispatchFailure(_) => format!("could not connect to {endpoint}: {root}"),
        SdkError::TimeoutError(_) => format!("{endpoint} did not answer in time"),
        SdkError::ResponseError(r) => {
            format!("{endpoint} answered HTTP {} that could not be read: {root}", r.raw().status().as_u16())
        }
        SdkError::ServiceError(s) => format!("{endpoint} answered HTTP {}: {root}", s.raw().status().as_u16()),
        SdkError::ConstructionFailure(_) => format!("the request could not be built: {root}"),
        _ => format!("{endpoint}: {root}"),
    };
    text.lines().next().unwrap_or_default().chars().take(300).collect()
}

fn gap<E>(action: &str, endpoint: &str, err: &SdkError<E, aws_smithy_runtime_api::http::Response>) -> Gap
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let action = action.to_owned();
    let body = err
        .raw_response()
        .and_then(|r| r.body().bytes())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let status = err.raw_response().map(|r| r.status().as_u16());
    match err.code() {
        Some(code) if is_denied(code) => {
            let message = match err.message() {
                // UnauthorizedOperation carries a long encoded authorization message: keep its start.
                Some(text) => format!("{code}: {}", text.chars().take(160).collect::<String>()),
                None => code.to_owned(),
            };
            Gap::Denied { action, message }
        }
        Some(code) => Gap::Failed { action, message: format!("{code}: {}", err.message().unwrap_or_default()) },
        None => match denial_in_body(&body) {
            // A denial the client could not parse: an XML error where JSON was expected, as some
            // proxies and emulators answer.
            Some(code) if matches!(status, Some(400 | 401 | 403)) => {
                Gap::Denied { action, message: format!("{code} (HTTP {})", status.unwrap_or_default()) }
            }
            _ => Gap::Failed { action, message: failure(endpoint, err) },
        },
    }
}

pub(crate) async fn collect_pages<T, E>(
    mut stream: aws_smithy_async::future::pagination_stream::PaginationStream<Result<T, E>>,
) -> Result<Vec<T>, E> {
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item?);
    }
    Ok(items)
}
