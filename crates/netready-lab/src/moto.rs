//! moto's server (`moto[server]` from PyPI) as the AWS API for tests: on a loopback port, or inside
//! a lab namespace so that a task namespace reaches it the way a task reaches AWS. Scenarios are
//! built through the API by `crates/netready/tests/moto/scenario.py` (boto3). Both come from the
//! project's pinned test-tool environment ([`crate::pytools`]), never from PATH; every error says
//! which moto version it ran against.
//!
//! The server runs under a small Python guard that stops it when the test process exits: the
//! guard reads its stdin, a pipe from us, and the pipe closes with us (a `static` is never
//! dropped, so `Drop` alone could leave a server running).
//!
//! Errors here are `String`s on purpose: they are the reason a test skips (recorded by
//! `record_skip`) or panics in CI; no caller decides on their kind.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::pytools::Venv;
use crate::{LabError, http, http_in};

const GUARD: &str = "import subprocess, sys\n\
p = subprocess.Popen(sys.argv[1:])\n\
try:\n    sys.stdin.read()\nfinally:\n    p.terminate()\n    p.wait(10)\n";

/// A moto server, stopped when dropped.
#[derive(Debug)]
pub struct Moto {
    /// `http://host:port`, as `AWS_ENDPOINT_URL` takes it.
    pub url: String,
    /// The namespace it runs in; `None`: this one (loopback).
    pub ns: Option<String>,
    addr: std::net::SocketAddr,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Closing the guard's stdin makes it stop the server and exit.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").ok().and_then(|l| l.local_addr().ok()).map_or(5000, |a| a.port())
}

impl Moto {
    /// On a free loopback port of this namespace.
    pub fn start() -> Result<Moto, String> {
        Moto::spawn(None, "127.0.0.1", free_port())
    }

    /// Inside namespace `ns`, listening on `ip:port` (an address of that namespace).
    pub fn start_in(ns: &str, ip: &str, port: u16) -> Result<Moto, String> {
        Moto::spawn(Some(ns), ip, port)
    }

    fn spawn(ns: Option<&str>, ip: &str, port: u16) -> Result<Moto, String> {
        let venv = Venv::get()?;
        let moto = venv.describe("moto");
        let child = python(venv, ns)
            .args(["-c", GUARD])
            .arg(venv.bin("moto_server"))
            .args(["-H", ip, "-p", &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {moto}: {e}"))?;
        let addr: std::net::SocketAddr = format!("{ip}:{port}").parse().map_err(|_| format!("bad address {ip}"))?;
        let server = Moto { url: format!("http://{ip}:{port}"), ns: ns.map(str::to_owned), addr, child };
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if server.post("/moto-api/reset", "").is_ok() {
                // In the test's output (libtest shows it when the test fails): what it ran against.
                eprintln!("AWS API: {moto} at {}", server.url);
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!("{moto} did not answer within 30s"))
    }

    /// POSTs `body` (plain text) to moto's own API, e.g. `/moto-api/reset-auth` with `0` or `inf`.
    pub fn post(&self, path: &str, body: &str) -> Result<String, String> {
        let headers = [("Content-Type", "text/plain")];
        let answer = match &self.ns {
            Some(ns) => http_in(ns, self.addr, "POST", path, &headers, body.as_bytes()),
            None => http(self.addr, "POST", path, &headers, body.as_bytes()),
        };
        match answer {
            Ok((status, text)) if (200..300).contains(&status) => Ok(text),
            Ok((status, text)) => Err(format!("HTTP {status}: {text}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Builds scenario `name` with `script` (scenario.py) and returns what it prints (JSON text).
    /// `extra` are more arguments (`--deny ACTION POLICY`).
    pub fn scenario(&self, script: &Path, name: &str, extra: &[&str]) -> Result<String, LabError> {
        let venv = Venv::get().map_err(LabError)?;
        let out = python(venv, self.ns.as_deref())
            .arg(script)
            .arg(&self.url)
            .arg(name)
            .args(extra)
            .output()
            .map_err(|e| LabError(format!("{}: {e}", venv.python().display())))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(LabError(format!("scenario {name} against {}: {stderr}", venv.describe("moto"))));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The environment's Python, in namespace `ns` or in this one.
fn python(venv: &Venv, ns: Option<&str>) -> Command {
    match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(venv.python());
            c
        }
        None => Command::new(venv.python()),
    }
}

/// The moto server, or why not: a recorded skip, or a panic when tests must run (CI).
pub fn or_skip(moto: &Result<Moto, String>) -> Option<&Moto> {
    match moto {
        Ok(m) => Some(m),
        Err(why) if crate::lab_required() => panic!("moto is required (CI or NETREADY_LAB=required) but {why}"),
        Err(why) => {
            crate::record_skip(why);
            None
        }
    }
}
