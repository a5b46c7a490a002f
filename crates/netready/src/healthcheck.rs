//! `netready healthcheck`: the container's health check, so that the image needs no shell, curl
//! or wget. One plain-HTTP GET over loopback with a short deadline: exit 0 on a 2xx answer, 1 on
//! anything else (refused, timeout, 5xx), 2 when the URL itself is wrong.
//!
//! By default it asks `/healthz` (alive) on the port of `NETREADY_LISTEN`, so the same command
//! serves the agent (9464) and the plane (8080). Not `/readyz`: a degraded network is what the
//! agent exists to report, and a health check that failed on it would have ECS replace the task
//! again and again, with no agent left to say why.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use netready_check::Sourced;
use netready_check::types::parse_duration;

use crate::cli::{HealthcheckArgs, origin};
use crate::exit::ConfigError;

/// The agent's status server when NETREADY_LISTEN is not set.
const DEFAULT_URL: &str = "http://127.0.0.1:9464/healthz";
/// Well inside ECS's default health-check timeout of 5 s.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

pub fn run(args: &HealthcheckArgs, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let url = match &args.url {
        Some(u) => u.clone(),
        None => default_url(std::env::var("NETREADY_LISTEN").ok().as_deref()),
    };
    let timeout = match &args.timeout {
        Some(t) => Sourced::new(t.as_str(), "--timeout").parse(parse_duration)?,
        None => DEFAULT_TIMEOUT,
    };
    let origin = if args.url.is_some() {
        origin(matches, "url", "--url", "NETREADY_HEALTHCHECK_URL")
    } else {
        "NETREADY_LISTEN"
    };
    let (host, addr, path) = parse(&url).map_err(|e| ConfigError(format!("invalid value for {origin}: {e}")))?;
    match get(&host, addr, &path, timeout) {
        Ok(status) if (200..300).contains(&status) => {
            println!("healthy: {url} answered {status}");
            Ok(ExitCode::SUCCESS)
        }
        Ok(status) => {
            eprintln!("unhealthy: {url} answered {status}");
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("unhealthy: {url}: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `/healthz` on loopback at the port the server was told to listen on.
fn default_url(listen: Option<&str>) -> String {
    match listen.and_then(|l| l.parse::<SocketAddr>().ok()) {
        Some(SocketAddr::V6(a)) => format!("http://[::1]:{}/healthz", a.port()),
        Some(a) => format!("http://127.0.0.1:{}/healthz", a.port()),
        None => DEFAULT_URL.to_owned(),
    }
}

/// What a health-check URL must look like.
const EXPECTED: &str = "expected http://HOST:PORT/PATH such as http://127.0.0.1:9464/healthz";

/// Why a health-check URL cannot be asked. The URL is shown without its password.
#[derive(Debug)]
enum UrlError {
    NotPlainHttp { url: String },
    NoHost { url: String },
    Resolve { authority: String, source: std::io::Error },
    NoAddress { authority: String },
}

impl std::fmt::Display for UrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlError::NotPlainHttp { url } => write!(f, "'{url}' is not a plain-HTTP URL: {EXPECTED}"),
            UrlError::NoHost { url } => write!(f, "'{url}' has no usable host: {EXPECTED}"),
            UrlError::Resolve { authority, source } => write!(f, "cannot resolve '{authority}' ({source}): {EXPECTED}"),
            UrlError::NoAddress { authority } => write!(f, "'{authority}' has no address: {EXPECTED}"),
        }
    }
}

impl std::error::Error for UrlError {}

/// `http://host[:port][/path]` → (Host header, address, path). Only plain HTTP: the status
/// servers listen on loopback without TLS.
fn parse(url: &str) -> Result<(String, SocketAddr, String), UrlError> {
    let shown = || netready_process::log::redact_url(url);
    let rest = url.strip_prefix("http://").ok_or_else(|| UrlError::NotPlainHttp { url: shown() })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(UrlError::NoHost { url: shown() });
    }
    let with_port = if authority.ends_with(']') || !authority.contains(':') {
        format!("{authority}:80")
    } else {
        authority.to_owned()
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|source| UrlError::Resolve { authority: authority.to_owned(), source })?
        .next()
        .ok_or_else(|| UrlError::NoAddress { authority: authority.to_owned() })?;
    Ok((authority.to_owned(), addr, path.to_owned()))
}

/// One GET; the status code of the answer.
fn get(host: &str, addr: SocketAddr, path: &str, timeout: Duration) -> std::io::Result<u16> {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_write_timeout(Some(left()))?;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") {
        stream.set_read_timeout(Some(left()))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > 8192 {
            break;
        }
    }
    let line = String::from_utf8_lossy(&head);
    let status = line.lines().next().unwrap_or_default();
    status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .filter(|_| status.starts_with("HTTP/"))
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: '{}'", status.trim())))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_follows_the_listen_address() {
        assert_eq!(default_url(None), "http://127.0.0.1:9464/healthz");
        assert_eq!(default_url(Some("0.0.0.0:8080")), "http://127.0.0.1:8080/healthz");
        assert_eq!(default_url(Some("[::]:9000")), "http://[::1]:9000/healthz");
        assert_eq!(default_url(Some("nonsense")), "http://127.0.0.1:9464/healthz");
    }

    #[test]
    fn urls() {
        let (host, addr, path) = parse("http://127.0.0.1:9464/readyz").unwrap();
        assert_eq!(
            (host.as_str(), addr.to_string().as_str(), path.as_str()),
            ("127.0.0.1:9464", "127.0.0.1:9464", "/readyz")
        );
        let (_, addr, path) = parse("http://127.0.0.1").unwrap();
        assert_eq!((addr.port(), path.as_str()), (80, "/"));
        assert!(parse("https://127.0.0.1/healthz").unwrap_err().to_string().contains("plain-HTTP"));
        assert!(parse("http:///x").unwrap_err().to_string().contains("no usable host"));
        let secret = parse("http://u:hunter2@127.0.0.1/").unwrap_err().to_string();
        assert!(secret.contains("no usable host") && !secret.contains("hunter2"), "{secret}");
    }

    #[test]
    fn answers() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for answer in ["HTTP/1.1 200 OK\r\n\r\nok", "HTTP/1.1 503 Service Unavailable\r\n\r\n", "garbage"] {
                let (mut s, _) = listener.accept().unwrap();
                let mut req = [0u8; 1024];
                let _ = s.read(&mut req).unwrap();
                s.write_all(answer.as_bytes()).unwrap();
            }
        });
        let t = Duration::from_secs(2);
        assert_eq!(get("h", addr, "/healthz", t).unwrap(), 200);
        assert_eq!(get("h", addr, "/readyz", t).unwrap(), 503);
        assert!(get("h", addr, "/", t).is_err());
        server.join().unwrap();
    }
}
