//! A throwaway PostgreSQL that accepts only TLS (`hostssl`; `hostnossl … reject`), as RDS does
//! with `rds.force_ssl=1`, presenting a server certificate the test chose. Debian's server binaries
//! run as the `postgres` user on 127.0.0.1 and a free port; the cluster lives in a temporary
//! directory removed (after an immediate stop) when the value is dropped, also when a test fails.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::LabError;

/// A running TLS-only PostgreSQL server.
#[derive(Debug)]
pub struct TlsPostgres {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

/// Debian's newest PostgreSQL server binaries, if installed.
pub fn server_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").is_file() && b.join("pg_ctl").is_file())
        .collect();
    found.sort_by_key(|p| p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()?.parse::<u32>().ok()));
    found.pop()
}

/// Why this machine cannot run [`TlsPostgres`], if it cannot.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("the TLS PostgreSQL test runs the server as the postgres user: it needs root".into());
    }
    if server_bin().is_none() {
        return Some(
            "PostgreSQL is not installed (/usr/lib/postgresql/*/bin): run scripts/install-test-deps.sh".into(),
        );
    }
    if !Command::new("id").arg("postgres").output().is_ok_and(|o| o.status.success()) {
        return Some("there is no postgres user (Debian's postgresql package creates it)".into());
    }
    None
}

fn run(cmd: &mut Command, what: &str) -> Result<(), LabError> {
    let out = cmd.output().map_err(|e| LabError(format!("{what}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LabError(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

fn as_postgres(bin: &Path, tool: &str) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"]).arg(bin.join(tool));
    cmd
}

impl TlsPostgres {
    /// Starts a server presenting `cert_pem` (the leaf, then its chain) with `key_pem`.
    pub fn start(cert_pem: &str, key_pem: &str) -> Result<TlsPostgres, LabError> {
        if let Some(why) = unavailable() {
            return Err(LabError(why));
        }
        let bin = server_bin().ok_or_else(|| LabError("PostgreSQL is not installed".into()))?;
        let port = crate::free_loopback_addr().port();
        let dir = std::env::temp_dir().join(format!("netready-tls-pg-{}-{port}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| LabError(format!("cannot create {}: {e}", dir.display())))?;
        // From here on, Drop stops the server (if it started) and removes the directory.
        let pg = TlsPostgres { dir, bin, port };
        pg.init(cert_pem, key_pem)?;
        let data = pg.dir.join("data");
        let options = format!("-c listen_addresses=127.0.0.1 -p {port} -k {} -c ssl=on -c fsync=off", pg.dir.display());
        run(
            as_postgres(&pg.bin, "pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(pg.dir.join("log"))
                .args(["-w", "-t", "30", "-o", &options, "start"]),
            "pg_ctl start",
        )
        .map_err(|e| LabError(format!("{e}\nserver log: {}", pg.log())))?;
        Ok(pg)
    }

    fn init(&self, cert_pem: &str, key_pem: &str) -> Result<(), LabError> {
        let chown = |p: &Path| run(Command::new("chown").args(["-R", "postgres:"]).arg(p), "chown");
        chown(&self.dir)?;
        let data = self.dir.join("data");
        run(
            as_postgres(&self.bin, "initdb").arg("-D").arg(&data).args(["-U", "postgres", "-A", "trust", "--no-sync"]),
            "initdb",
        )?;
        let write = |name: &str, text: &str| {
            fs::write(data.join(name), text).map_err(|e| LabError(format!("cannot write {name}: {e}")))
        };
        write("server.crt", cert_pem)?;
        write("server.key", key_pem)?;
        // Only TLS, as RDS with rds.force_ssl=1: a plain connection is rejected by pg_hba.conf.
        write(
            "pg_hba.conf",
            "local all all trust\nhostnossl all all 0.0.0.0/0 reject\nhostssl all all 127.0.0.1/32 trust\n",
        )?;
        fs::set_permissions(data.join("server.key"), fs::Permissions::from_mode(0o600))
            .map_err(|e| LabError(format!("cannot restrict server.key: {e}")))?;
        chown(&data)
    }

    /// The server's log, to show when something fails.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// A `postgres://` URL for `host` (which must resolve to 127.0.0.1) with `query` appended.
    pub fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres{query}", self.port)
    }
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        if data.join("postmaster.pid").exists() {
            let _ = as_postgres(&self.bin, "pg_ctl").arg("-D").arg(&data).args(["-m", "immediate", "stop"]).output();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}
