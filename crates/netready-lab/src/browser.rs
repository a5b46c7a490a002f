//! Headless Chromium driven over WebDriver (Debian's chromium and chromium-driver): JSON over
//! HTTP with [`http`](crate::http), no client library. On the host, or inside a namespace of the
//! lab (so that it reaches a plane listening there). Dropping a [`Browser`] ends the session,
//! which closes Chromium, then kills chromedriver — also when an assertion failed.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::{Proc, eventually, http, http_in};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether Chromium and chromedriver are installed. When they are not: a panic where the lab is
/// required (CI), else a recorded skip saying `without`, what the test does not check then.
pub fn available(without: &str) -> bool {
    let have = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !have {
        if crate::lab_required() {
            panic!("the browser test is required (CI) but Debian's chromium and chromium-driver are not installed");
        }
        crate::record_skip(&format!("no {CHROMIUM} or {CHROMEDRIVER} (scripts/install-test-deps.sh): {without}"));
    }
    have
}

/// One WebDriver session in its own Chromium.
#[derive(Debug)]
pub struct Browser {
    driver: SocketAddr,
    ns: Option<String>,
    id: String,
    chromedriver: Proc,
}

impl Browser {
    /// Starts chromedriver (on the host, or in namespace `ns`) and a session whose Chromium keeps
    /// its profile in `profile` and has a window `width` × `height`.
    pub fn start(ns: Option<&str>, profile: &Path, width: u32, height: u32) -> Browser {
        let port = match ns {
            // A namespace of the lab's own: its loopback is free.
            Some(_) => 9515,
            None => crate::free_loopback_addr().port(),
        };
        let driver = SocketAddr::from(([127, 0, 0, 1], port));
        let args = [format!("--port={port}"), "--allowed-ips=127.0.0.1".to_owned()];
        let cmd = match ns {
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns, CHROMEDRIVER]).args(&args);
                cmd
            }
            None => {
                let mut cmd = Command::new(CHROMEDRIVER);
                cmd.args(&args);
                cmd
            }
        };
        let chromedriver = Proc::spawn(cmd, "chromedriver").expect("chromedriver starts");
        let mut browser = Browser { driver, ns: ns.map(str::to_owned), id: String::new(), chromedriver };
        eventually(Duration::from_secs(10), || {
            browser.raw("GET", "/status", &Value::Null).ok().filter(|(s, _)| *s == 200)
        })
        .unwrap_or_else(|| panic!("chromedriver did not start: {:?}", browser.chromedriver.output()));
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-extensions", "--disable-default-apps", format!("--window-size={width},{height}"),
                     format!("--user-data-dir={}", profile.display())]
        }}}});
        let (status, value) = browser.raw("POST", "/session", &caps).expect("chromedriver answers");
        assert_eq!(status, 200, "new session: {value}");
        browser.id = value["sessionId"].as_str().expect("a session id").to_owned();
        browser
    }

    /// One WebDriver request: its status and the answer's `value`.
    fn raw(&self, method: &str, path: &str, body: &Value) -> std::io::Result<(u16, Value)> {
        let payload = if method == "POST" { body.to_string().into_bytes() } else { Vec::new() };
        let headers = [("Content-Type", "application/json")];
        let (status, text) = match &self.ns {
            Some(ns) => http_in(ns, self.driver, method, path, &headers, &payload)?,
            None => http(self.driver, method, path, &headers, &payload)?,
        };
        let value = serde_json::from_str::<Value>(&text).map(|v| v["value"].clone()).unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// A request within the session that must succeed.
    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.id);
        let (status, value) = self.raw(method, &path, &body).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_eq!(status, 200, "{method} {path}: {value}");
        value
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }));
    }

    /// The first element matching `css`, if any.
    pub fn find(&self, css: &str) -> Option<String> {
        let path = format!("/session/{}/element", self.id);
        let (status, value) = self.raw("POST", &path, &json!({"using": "css selector", "value": css})).ok()?;
        (status == 200).then(|| value.as_object()?.values().next()?.as_str().map(str::to_owned)).flatten()
    }

    /// The first element matching `css`, waiting up to 10 s for it.
    pub fn wait_for(&self, css: &str) -> String {
        eventually(Duration::from_secs(10), || self.find(css))
            .unwrap_or_else(|| panic!("no element {css} on {}", self.url()))
    }

    pub fn text(&self, element: &str) -> String {
        self.call("GET", &format!("/element/{element}/text"), Value::Null).as_str().unwrap_or_default().to_owned()
    }

    /// The text of an element, or None if it went stale (the page replaced it meanwhile).
    pub fn try_text(&self, element: &str) -> Option<String> {
        let path = format!("/session/{}/element/{element}/text", self.id);
        let (status, value) = self.raw("GET", &path, &Value::Null).ok()?;
        (status == 200).then(|| value.as_str().map(str::to_owned)).flatten()
    }

    pub fn click(&self, element: &str) {
        self.call("POST", &format!("/element/{element}/click"), json!({}));
    }

    pub fn type_into(&self, element: &str, text: &str) {
        self.call("POST", &format!("/element/{element}/value"), json!({ "text": text }));
    }

    pub fn url(&self) -> String {
        self.call("GET", "/url", Value::Null).as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` (a function body) in the page; its return value.
    pub fn script(&self, script: &str) -> Value {
        self.call("POST", "/execute/sync", json!({ "script": script, "args": [] }))
    }

    /// Emulates a phone `width` CSS pixels wide (Chrome DevTools, through chromedriver).
    pub fn emulate_width(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": "Emulation.setDeviceMetricsOverride",
                   "params": {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": true}}),
        );
    }

    /// The dashboard's login form at `base` (`http://host:port`), filled with `token`.
    pub fn log_in(&self, base: &str, token: &str) {
        self.goto(&format!("{base}/login"));
        let field = self.wait_for("input[name=token]");
        self.type_into(&field, token);
        let button = self.wait_for("button[type=submit]");
        self.click(&button);
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        base64_decode(self.call("GET", "/screenshot", Value::Null).as_str().unwrap_or_default())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.id.is_empty() {
            let _ = self.raw("DELETE", &format!("/session/{}", self.id), &Value::Null);
        }
        // `chromedriver` is killed when the field drops, after this.
    }
}

/// Standard base64 (WebDriver's screenshots), padding and whitespace ignored.
fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = s.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, c)| acc | (u32::from(value(*c)) << (18 - 6 * i)));
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64() {
        assert_eq!(super::base64_decode("iVBORw0KGgo="), b"\x89PNG\r\n\x1a\n");
        assert_eq!(super::base64_decode("TWFu"), b"Man");
        assert_eq!(super::base64_decode("TWE="), b"Ma");
        assert_eq!(super::base64_decode("TQ=="), b"M");
    }
}
