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
//! libgcc's unwinder linked in (`libgcc_eh.a`, what `-static-libgcc` gives a C program) instead of
//! loaded (`libgcc_s.so.1`): Rust's standard library asks for `-lgcc_s`, and a directory holding
//! only a `libgcc_s.a` (a copy of `libgcc_eh.a`), searched first, answers it. The shared library's
//! constructor probes the CPU's features with a dozen `cpuid` instructions, which a virtual
//! machine traps: 0.1–0.2 ms of every start of every process that loads it, a fifth of a Rust
//! hello world's CPU here (`perf record`; docs/benchmarks.md, 2026-12-03) — and Fargate runs
//! tasks in virtual machines. `NETREADY_LIBGCC_S=1` keeps the shared library.
//!
//! glibc linked in (`-static`, the executable statically linked), where the build machine's C
//! compiler has glibc's archives (`libc.a`, Debian's libc6-dev): no dynamic loader runs, so no
//! library is mapped and no symbol bound at start — 0.4–0.5 ms of a cold check's 2–4 ms, and its
//! peak memory 0.4–0.8 MiB lower (docs/benchmarks.md, 2026-12-04). (glibc's own probing of the CPU's
//! caches with `cpuid` stays: a static glibc runs it too.) Name lookups (`getaddrinfo`, for
//! the plane's URL, the database's host, the AWS SDK's endpoints) still read `/etc/hosts` and DNS
//! through the `files` and `dns` services built into a static glibc; other NSS services (mDNS,
//! systemd-resolved's `resolve`) are not loaded. What it gives up: the C library's code at a fixed
//! address too (stack, heap and mappings stay randomized) and glibc security updates without a
//! rebuild (the image is rebuilt with its glibc anyway). `NETREADY_SHARED_LIBC=1` keeps the shared
//! glibc (as do `NETREADY_PIE=1` and `NETREADY_LIBGCC_S=1`).
//!
//! Release builds lay out together the code a check and the agent run (`hot-text.ld`, written by
//! `scripts/hot-text` from recorded runs): the kernel maps a binary's code in 64 KB windows around
//! each page touched, and with the 2 MB that runs spread over a 25 MB `.text`, an agent kept
//! 8 MiB of code resident where under 3 MiB does (docs/benchmarks.md, 2026-12-04). The script is
//! for LLD, the linker Rust uses for x86_64-unknown-linux-gnu since 1.90 (an older Rust is left
//! with the layout it had); `NETREADY_HOT_TEXT=0` leaves it out.
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
    println!("cargo:rerun-if-env-changed=NETREADY_LIBGCC_S");
    println!("cargo:rerun-if-env-changed=NETREADY_HOT_TEXT");
    println!("cargo:rerun-if-env-changed=NETREADY_SHARED_LIBC");
    let (host, target) = (std::env::var("HOST").unwrap_or_default(), std::env::var("TARGET").unwrap_or_default());
    if !target.contains("-linux-") {
        return;
    }
    // What is probed here (the C compiler's libgcc, glibc's version) is the build machine's.
    let native_glibc = host == target && target.ends_with("-linux-gnu");
    let unwinder_inside = native_glibc && !set("NETREADY_LIBGCC_S") && static_unwinder();
    // A static executable needs everything it links static, the unwinder too; and a PIE asks for
    // a position-independent static loader (rcrt1.o, `crt-static`), which this does not make.
    if unwinder_inside && !set("NETREADY_PIE") && !set("NETREADY_SHARED_LIBC") {
        static_glibc();
    }
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let hot_text_off = std::env::var_os("NETREADY_HOT_TEXT").is_some_and(|v| v == "0");
    if release && target == "x86_64-unknown-linux-gnu" && !hot_text_off && rustc_links_with_lld() {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hot-text.ld");
        println!("cargo:rerun-if-changed={}", script.display());
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
    if !set("NETREADY_PIE") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    } else if native_glibc && std::env::var_os("NETREADY_NO_RELR").is_none() && glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the build machine's glibc (`getconf GNU_LIBC_VERSION`: `glibc 2.36`) is that new.
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(out) = std::process::Command::new("getconf").arg("GNU_LIBC_VERSION").output() else { return false };
    version(&String::from_utf8_lossy(&out.stdout)).is_some_and(|v| v >= (major, minor))
}

/// The major and minor version in a tool's `<name> <major>.<minor>[.…] …` line.
fn version(line: &str) -> Option<(u32, u32)> {
    let mut parts = line.split_whitespace().nth(1)?.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

/// Whether this Rust links x86_64-unknown-linux-gnu with its LLD by default (1.90 and newer).
fn rustc_links_with_lld() -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let Ok(out) = std::process::Command::new(rustc).arg("--version").output() else { return false };
    version(&String::from_utf8_lossy(&out.stdout)).is_some_and(|v| v >= (1, 90))
}

/// Whether the variable is set to something other than empty or `0`.
fn set(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| !v.is_empty() && v != "0")
}

/// `-lgcc_s` answered by libgcc's static unwinder, when the C compiler knows where it is (a
/// static-C-runtime build links it already; then nothing is done). Whether it is.
fn static_unwinder() -> bool {
    let crt_static = std::env::var("CARGO_CFG_TARGET_FEATURE").is_ok_and(|f| f.split(',').any(|f| f == "crt-static"));
    let Some(out) = std::env::var_os("OUT_DIR").filter(|_| !crt_static) else { return false };
    let Some(eh) = c_library("libgcc_eh.a") else { return false };
    let dir = std::path::Path::new(&out).join("static-unwinder");
    if std::fs::create_dir_all(&dir).and_then(|()| std::fs::copy(&eh, dir.join("libgcc_s.a"))).is_err() {
        return false;
    }
    println!("cargo:rerun-if-changed={}", eh.display());
    println!("cargo:rustc-link-search=native={}", dir.display());
    true
}

/// Where the C compiler finds the library file `name`, if it has one.
fn c_library(name: &str) -> Option<std::path::PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let found = std::process::Command::new(&cc).arg(format!("-print-file-name={name}")).output().ok()?;
    // The compiler prints the bare name when it has no such file.
    let path = std::path::PathBuf::from(String::from_utf8_lossy(&found.stdout).trim());
    (path.is_absolute() && path.is_file()).then_some(path)
}

/// glibc linked into the binary (`-static`), when the C compiler has its static libraries: the
/// libraries Rust's standard library and the `libc` crate ask for (`-lc -lm …`, which rustc
/// passes after `-Bdynamic`) are answered from a directory holding only their archives, searched
/// first — by the binaries alone (`-L` as a link argument of the bins: a test program linked
/// with `-lc` from an archive but without `-static` would be a dynamic executable with a static
/// C library in it).
fn static_glibc() {
    let Some(out) = std::env::var_os("OUT_DIR") else { return };
    let dir = std::path::Path::new(&out).join("static-glibc");
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    for lib in ["c", "m", "pthread", "rt", "dl", "util"] {
        let name = format!("lib{lib}.a");
        let Some(archive) = c_library(&name) else { return };
        if std::fs::copy(&archive, dir.join(&name)).is_err() {
            return;
        }
        println!("cargo:rerun-if-changed={}", archive.display());
    }
    println!("cargo:rustc-link-arg-bins=-static");
    println!("cargo:rustc-link-arg-bins=-L{}", dir.display());
}
