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

/// A URL with the password of its user-info replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme && !url[scheme + 3..at].contains('/') => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_owned(),
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
    }
}
