//! Sending a report to the plane. Reporting may go through an HTTP proxy when one is configured
//! (unlike the probes, which are always direct): the client honours HTTPS_PROXY and friends.

use std::time::Duration;

use netready_check::Report;

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// 201: stored.
    Stored,
    /// 200: the plane had it already.
    Duplicate,
    /// Worth retrying: the plane is unreachable, overloaded or failing (5xx, 429, 408).
    Retry(String),
    /// Not worth retrying as is: a 4xx. 401/403 mean the runner id or token is wrong.
    Rejected { status: u16, message: String },
    /// The plane does not know this report's `schema_version`: it is older than the agent.
    PlaneTooOld { message: String },
}

impl Delivery {
    pub fn outcome(&self) -> &'static str {
        match self {
            Delivery::Stored => "stored",
            Delivery::Duplicate => "duplicate",
            Delivery::Retry(_) => "retry",
            Delivery::Rejected { .. } | Delivery::PlaneTooOld { .. } => "rejected",
        }
    }
}

/// What an HTTP status (and the error code of a JSON error body) means for the report. Pure.
pub fn classify(status: u16, code: Option<&str>, message: String) -> Delivery {
    match status {
        422 if code == Some("unsupported_schema_version") => Delivery::PlaneTooOld { message },
        201 => Delivery::Stored,
        200..=299 => Delivery::Duplicate,
        408 | 429 | 500..=599 => Delivery::Retry(format!("the plane answered {status}: {message}")),
        _ => Delivery::Rejected { status, message },
    }
}

/// The plane's ingest endpoint for one runner.
#[derive(Clone)]
pub struct PlaneClient {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl std::fmt::Debug for PlaneClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaneClient").field("url", &self.url).field("token", &"***").finish()
    }
}

impl PlaneClient {
    pub fn new(plane_url: &str, runner_id: &str, token: &str) -> Result<Self, String> {
        netready_check::metadata::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("netready-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let url = format!("{}/api/v1/runners/{runner_id}/network-readiness", plane_url.trim_end_matches('/'));
        Ok(Self { client, url, token: token.to_owned() })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// One attempt.
    pub async fn deliver(&self, report: &Report) -> Delivery {
        let body = match serde_json::to_vec(report) {
            Ok(b) => b,
            Err(e) => {
                return Delivery::Rejected { status: 0, message: format!("cannot encode the report: {e}") };
            }
        };
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        match response {
            Err(e) => Delivery::Retry(describe(&e)),
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                let json = serde_json::from_str::<serde_json::Value>(&text).ok();
                let code = json.as_ref().and_then(|v| v["error"].as_str());
                let message = json
                    .as_ref()
                    .and_then(|v| v["message"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| text.chars().take(200).collect());
                classify(status, code, message)
            }
        }
    }
}

/// A transport error in words, without the URL's secrets (there are none in it: the token
/// travels in a header).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() { kind.to_owned() } else { format!("{kind}: {detail}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(classify(201, None, String::new()), Delivery::Stored);
        assert_eq!(classify(200, None, String::new()), Delivery::Duplicate);
        for s in [500, 502, 503, 504, 429, 408] {
            assert!(matches!(classify(s, None, String::new()), Delivery::Retry(_)), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 415, 422] {
            assert!(
                matches!(classify(s, None, String::new()), Delivery::Rejected { status, .. } if status == s),
                "{s}"
            );
        }
        assert!(matches!(
            classify(422, Some("unsupported_schema_version"), "accepted versions: [1]".into()),
            Delivery::PlaneTooOld { .. }
        ));
        assert!(matches!(classify(422, Some("invalid_report"), String::new()), Delivery::Rejected { .. }));
    }
}
