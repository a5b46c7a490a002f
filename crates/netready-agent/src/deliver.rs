//! Sending a report to the plane. Reporting may go through an HTTP proxy when one is configured
//! (unlike the probes, which are always direct): the client honours HTTPS_PROXY and friends.

use std::time::Duration;

use netready_check::Report;

use crate::error::AgentError;

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// 201: stored.
    Stored,
    /// 200: the plane had it already.
    Duplicate,
    /// Worth retrying: the plane is unreachable, overloaded or failing (5xx, 429, 408); not before
    /// `after` when the plane said so (`Retry-After`).
    Retry { reason: String, after: Option<Duration> },
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
            Delivery::Retry { .. } => "retry",
            Delivery::Rejected { .. } | Delivery::PlaneTooOld { .. } => "rejected",
        }
    }
}

/// What an HTTP status (with the error code of a JSON error body and the `Retry-After` header)
/// means for the report. Pure.
pub fn classify(status: u16, code: Option<&str>, message: String, retry_after: Option<&str>) -> Delivery {
    match status {
        422 if code == Some("unsupported_schema_version") => Delivery::PlaneTooOld { message },
        201 => Delivery::Stored,
        200..=299 => Delivery::Duplicate,
        408 | 429 | 500..=599 => Delivery::Retry {
            reason: format!("the plane answered {status}: {message}"),
            // Whole seconds, as the plane sends it; capped so that a bad value cannot stall the agent.
            after: retry_after
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s.min(MAX_RETRY_AFTER_SECS))),
        },
        _ => Delivery::Rejected { status, message },
    }
}

/// The longest `Retry-After` the agent honours, in seconds.
pub const MAX_RETRY_AFTER_SECS: u64 = 600;

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

/// What verifies the plane's certificate.
#[derive(Debug, Clone)]
pub enum PlaneTrust {
    /// The check's trust store (system CAs plus `--ca-file`), already loading.
    Shared(std::sync::Arc<netready_check::tls::TlsProbe>),
    /// The system's CAs plus `ca_file`'s, loaded for the plane alone (the check has no TLS).
    System { ca_file: Option<std::path::PathBuf> },
}

impl PlaneClient {
    /// A client for the plane whose HTTPS is verified by `trust`.
    pub fn new(plane_url: &str, runner_id: &str, token: &str, trust: &PlaneTrust) -> Result<Self, AgentError> {
        netready_process::install_crypto_provider();
        let mut builder = reqwest::Client::builder();
        match trust {
            PlaneTrust::Shared(probe) => {
                let mut tls = probe.client_config()?;
                tls.alpn_protocols = vec![b"http/1.1".to_vec()];
                builder = builder.tls_backend_preconfigured(tls);
            }
            PlaneTrust::System { ca_file: Some(path) } => {
                let pem = std::fs::read(path).map_err(|source| AgentError::CaFile { path: path.to_owned(), source })?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|source| AgentError::CaFilePem { path: path.to_owned(), source })?;
                builder = builder.tls_certs_merge(certs);
            }
            PlaneTrust::System { ca_file: None } => {}
        }
        let client = builder
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("netready-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(AgentError::HttpClient)?;
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
            Err(e) => Delivery::Retry { reason: describe(&e), after: None },
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after =
                    r.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
                let text = r.text().await.unwrap_or_default();
                let json = serde_json::from_str::<serde_json::Value>(&text).ok();
                let code = json.as_ref().and_then(|v| v["error"].as_str());
                let message = json
                    .as_ref()
                    .and_then(|v| v["message"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| text.chars().take(200).collect());
                classify(status, code, message, retry_after.as_deref())
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
        assert_eq!(classify(201, None, String::new(), None), Delivery::Stored);
        assert_eq!(classify(200, None, String::new(), None), Delivery::Duplicate);
        for s in [500, 502, 503, 504, 429, 408] {
            assert!(matches!(classify(s, None, String::new(), None), Delivery::Retry { after: None, .. }), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 415, 422] {
            let d = classify(s, None, String::new(), None);
            assert!(matches!(d, Delivery::Rejected { status, .. } if status == s), "{s}");
        }
        assert!(matches!(
            classify(422, Some("unsupported_schema_version"), "accepted versions: [1]".into(), None),
            Delivery::PlaneTooOld { .. }
        ));
        assert!(matches!(classify(422, Some("invalid_report"), String::new(), None), Delivery::Rejected { .. }));
        let after = |v| match classify(429, Some("rate_limited"), String::new(), Some(v)) {
            Delivery::Retry { after, .. } => after,
            other => panic!("{other:?}"),
        };
        assert_eq!(after("7"), Some(Duration::from_secs(7)));
        assert_eq!(after("86400"), Some(Duration::from_secs(MAX_RETRY_AFTER_SECS)));
        assert_eq!(after("soon"), None);
    }
}
