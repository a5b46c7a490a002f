//! Logs as JSON lines on stdout, one object per line — what CloudWatch Logs (awslogs) indexes:
//! `{"ts": "2026-11-26T13:27:11.123Z", "level": "info", "msg": "...", ...fields}`.
//! Nothing secret is ever passed here: callers log names, ids and redacted URLs only.

use serde_json::{Map, Value};

fn emit(level: &str, msg: &str, fields: &[(&str, Value)]) {
    let mut line = Map::new();
    line.insert("ts".into(), Value::String(humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()));
    line.insert("level".into(), Value::String(level.into()));
    line.insert("msg".into(), Value::String(msg.into()));
    for (k, v) in fields {
        line.insert((*k).into(), v.clone());
    }
    println!("{}", Value::Object(line));
}

pub fn info(msg: &str, fields: &[(&str, Value)]) {
    emit("info", msg, fields);
}

pub fn warn(msg: &str, fields: &[(&str, Value)]) {
    emit("warn", msg, fields);
}

pub fn error(msg: &str, fields: &[(&str, Value)]) {
    emit("error", msg, fields);
}

/// A URL with the password of its user-info replaced, for messages and logs. The user-info is
/// what precedes the last `@` of the authority (which ends at the first `/`, `?` or `#`), so an `@`
/// in the path or query is never mistaken for it — and never lets a password through.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let redacted = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => userinfo.to_owned(),
            };
            format!("{}{redacted}{}", &url[..scheme_end], &rest[at..])
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_passwords() {
        assert_eq!(redact_url("postgres://netready:s3cret@db:5432/plane"), "postgres://netready:***@db:5432/plane");
        assert_eq!(redact_url("http://user:pw@proxy:3128"), "http://user:***@proxy:3128");
        assert_eq!(redact_url("https://plane.example.com/a@b"), "https://plane.example.com/a@b");
        assert_eq!(redact_url("plane.db"), "plane.db");
        // An '@' after the host (in the query or path) is not the user-info's.
        assert_eq!(
            redact_url("postgres://u:s3cret@db:5432/plane?options=a@b"),
            "postgres://u:***@db:5432/plane?options=a@b"
        );
        assert_eq!(redact_url("postgres://u:p@ss@db/x"), "postgres://u:***@db/x");
        assert_eq!(redact_url("http://host/path?to=a@b"), "http://host/path?to=a@b");
        assert_eq!(redact_url("http://user@host/"), "http://user@host/");
    }
}
