//! Link options for the `netready` binary.
//!
//! A fixed-address executable (`-no-pie`), like Go's default and the Debian blackbox_exporter we
//! are measured against: a position-independent executable makes the dynamic loader write the
//! relocated pointers of ~0.9 MB of vtables and tables (`.data.rel.ro`) at every start — 230
//! copy-on-write page faults, 0.5 ms of a 2.7 ms cold TCP check and 0.9 MiB of every process's
//! anonymous memory (docs/benchmarks.md, 2026-12-03). What it gives up: the executable's own
//! code is at a fixed address (the libraries, stack, heap and mappings stay randomized).
//! `NETREADY_PIE=1` at build time keeps a position-independent executable.
//!
//! For that PIE, packed relative relocations (`-z pack-relative-relocs`, DT_RELR): the binary is a
//! position-independent executable whose ~57,000 relative relocations the dynamic loader applies
//! at every start, reading 1.3 MB of RELA entries first. In RELR form they take a few KB, and a
//! cold `netready check` starts sooner and maps less (docs/benchmarks.md). The loader must be
//! glibc 2.36 or newer (the container image's is), so this is on only when the build machine's
//! glibc is (a binary built there is run there), and never when cross-compiling.

fn main() {
    println!("cargo:rerun-if-env-changed=NETREADY_NO_RELR");
    println!("cargo:rerun-if-env-changed=NETREADY_PIE");
    let (host, target) = (std::env::var("HOST").unwrap_or_default(), std::env::var("TARGET").unwrap_or_default());
    if !target.contains("-linux-") {
        return;
    }
    if std::env::var_os("NETREADY_PIE").is_none_or(|v| v.is_empty() || v == "0") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
        return;
    }
    if host != target || !target.ends_with("-linux-gnu") || std::env::var_os("NETREADY_NO_RELR").is_some() {
        return;
    }
    if glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the build machine's glibc (`getconf GNU_LIBC_VERSION`: `glibc 2.36`) is that new.
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(out) = std::process::Command::new("getconf").arg("GNU_LIBC_VERSION").output() else { return false };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.trim().trim_start_matches("glibc ").split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}
