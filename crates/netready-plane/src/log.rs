//! Logs as JSON lines on stdout: `{"ts": "...", "level": "info", "msg": "...", ...fields}`.

use serde_json::{Map, Value};

fn emit(level: &str, msg: &str, fields: &[(&str, &str)]) {
    let mut line = Map::new();
    line.insert("ts".into(), Value::String(humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()));
    line.insert("level".into(), Value::String(level.into()));
    line.insert("msg".into(), Value::String(msg.into()));
    for (k, v) in fields {
        line.insert((*k).into(), Value::String((*v).into()));
    }
    println!("{}", Value::Object(line));
}

pub fn info(msg: &str, fields: &[(&str, &str)]) {
    emit("info", msg, fields);
}

pub fn warn(msg: &str, fields: &[(&str, &str)]) {
    emit("warn", msg, fields);
}

pub fn error(msg: &str, fields: &[(&str, &str)]) {
    emit("error", msg, fields);
}
