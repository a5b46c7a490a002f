//! Link options for the `netready` binary.
//!
//! Packed relative relocations (`-z pack-relative-relocs`, DT_RELR): the binary is a
//! position-independent executable whose ~57,000 relative relocations the dynamic loader applies
//! at every start, reading 1.3 MB of RELA entries first. In RELR form they take a few KB, and a
//! cold `netready check` starts sooner and maps less (docs/benchmarks.md). The loader must be
//! glibc 2.36 or newer (the container image's is), so this is on only when the build machine's
//! glibc is (a binary built there is run there), and never when cross-compiling.

fn main() {
    println!("cargo:rerun-if-env-changed=NETREADY_NO_RELR");
    let (host, target) = (std::env::var("HOST").unwrap_or_default(), std::env::var("TARGET").unwrap_or_default());
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
