//! How the binary is linked (`build.rs`): static, glibc and libgcc's unwinder inside it (no
//! dynamic loader to map libraries and bind symbols, no `libgcc_s.so.1` whose constructor traps
//! into the hypervisor), at a fixed address (no relocations to apply at start). Each is silent
//! when it stops working — a linker that ignores a flag, a toolchain that moves `libgcc_eh.a` or
//! `libc.a` — and costs every cold check (docs/benchmarks.md), so the built binary's ELF headers
//! are read here. And a panic still unwinds with the unwinder linked in (the trust store's loader
//! catches one): this test program is linked with it too (build.rs's search path for `-lgcc_s`
//! holds for every target of the package; glibc is linked in for the binaries alone). And the list
//! of functions release builds lay out together (`hot-text.ld`) still names this code.

#![allow(clippy::unwrap_used)]

const BIN: &str = env!("CARGO_BIN_EXE_netready");

/// The parts of an ELF64 little-endian file this test reads.
struct Elf {
    bytes: Vec<u8>,
}

/// ET_EXEC: a fixed-address executable (ET_DYN is a position-independent one).
const ET_EXEC: u16 = 2;
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;

impl Elf {
    fn read(path: &str) -> Elf {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..4], b"\x7fELF", "{path} is not an ELF file");
        assert_eq!(bytes[4], 2, "ELF64 expected");
        assert_eq!(bytes[5], 1, "little-endian expected");
        Elf { bytes }
    }

    fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.bytes[at..at + 2].try_into().unwrap())
    }

    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes[at..at + 4].try_into().unwrap())
    }

    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes[at..at + 8].try_into().unwrap())
    }

    fn kind(&self) -> u16 {
        self.u16(16)
    }

    /// (type, file offset, virtual address, file size) of each program header.
    fn segments(&self) -> Vec<(u32, u64, u64, u64)> {
        let (phoff, phentsize, phnum) = (self.u64(32) as usize, self.u16(54) as usize, self.u16(56) as usize);
        (0..phnum)
            .map(|i| {
                let h = phoff + i * phentsize;
                (self.u32(h), self.u64(h + 8), self.u64(h + 16), self.u64(h + 32))
            })
            .collect()
    }

    /// Where in the file the byte mapped at `vaddr` is.
    fn offset_of(&self, vaddr: u64) -> usize {
        let (_, off, va, _) = self
            .segments()
            .into_iter()
            .find(|&(t, _, va, size)| t == PT_LOAD && (va..va + size).contains(&vaddr))
            .expect("an address in a loaded segment");
        (off + (vaddr - va)) as usize
    }

    /// The shared libraries the dynamic section names (DT_NEEDED).
    fn needed(&self) -> Vec<String> {
        let Some((_, off, _, size)) = self.segments().into_iter().find(|s| s.0 == PT_DYNAMIC) else {
            return Vec::new();
        };
        let entries: Vec<(u64, u64)> =
            (off..off + size).step_by(16).map(|e| (self.u64(e as usize), self.u64(e as usize + 8))).collect();
        let strtab = entries.iter().find(|e| e.0 == DT_STRTAB).map(|e| self.offset_of(e.1)).expect("DT_STRTAB");
        entries
            .iter()
            .filter(|e| e.0 == DT_NEEDED)
            .map(|e| {
                let start = strtab + e.1 as usize;
                let len = self.bytes[start..].iter().position(|&b| b == 0).unwrap();
                String::from_utf8_lossy(&self.bytes[start..start + len]).into_owned()
            })
            .collect()
    }
}

/// Whether the build was asked to keep what build.rs otherwise changes (`NETREADY_PIE=1`,
/// `NETREADY_LIBGCC_S=1`, `NETREADY_SHARED_LIBC=1`; set as build.rs's `set` reads it): read when
/// this test was compiled, in the same build as the binary.
fn kept(var: Option<&str>) -> bool {
    var.is_some_and(|v| !v.is_empty() && v != "0")
}

#[test]
fn the_binary_is_static_at_a_fixed_address() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return;
    }
    let elf = Elf::read(BIN);
    let pie = kept(option_env!("NETREADY_PIE"));
    if !pie {
        assert_eq!(elf.kind(), ET_EXEC, "{BIN} is a position-independent executable: is -no-pie still passed?");
    }
    let libgcc_s = kept(option_env!("NETREADY_LIBGCC_S"));
    let needed = elf.needed();
    if !(pie || libgcc_s || kept(option_env!("NETREADY_SHARED_LIBC"))) {
        let dynamic: Vec<u32> =
            elf.segments().iter().map(|s| s.0).filter(|&t| t == PT_INTERP || t == PT_DYNAMIC).collect();
        assert!(
            dynamic.is_empty(),
            "{BIN} is a dynamic executable (it loads {needed:?}): is glibc still linked in (build.rs: -static, and the \
             directory of glibc's archives)?"
        );
        return;
    }
    assert!(needed.iter().any(|n| n.starts_with("libc.so")), "the dynamic section was not read: {needed:?}");
    if !libgcc_s {
        assert!(!needed.iter().any(|n| n.starts_with("libgcc_s")), "{BIN} still loads libgcc_s: {needed:?}");
    }
}

#[test]
fn a_panic_unwinds_with_the_unwinder_linked_in() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) || kept(option_env!("NETREADY_LIBGCC_S")) {
        return;
    }
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    assert!(!maps.contains("libgcc_s"), "this test program loaded libgcc_s: it does not test the static unwinder");
    let caught = std::panic::catch_unwind(|| {
        let empty: Vec<u8> = Vec::new();
        empty[std::hint::black_box(3)]
    });
    assert!(caught.is_err(), "the panic was caught");
    let joined = std::thread::spawn(|| panic!("in a thread")).join();
    assert!(joined.is_err(), "a thread's panic ends at its join");
}

/// Whether `name` matches the linker-script pattern `pattern`, whose only wildcard is `*`.
fn glob(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

#[test]
fn glob_matches_as_the_linker_does() {
    assert!(glob("_RNvCs*_8netready4main*", "_RNvCsAbC123_8netready4main"));
    assert!(glob("_RNvCs*_8netready4main*", "_RNvCsAbC123_8netready4main.llvm.42"));
    assert!(!glob("_RNvCs*_8netready4main*", "_RNvCsAbC123_8netready5check"));
    assert!(glob("exact", "exact"));
    assert!(!glob("exact", "exactly"));
    assert!(glob("a*b*c", "abc") && glob("a*b*c", "a1b2c") && !glob("a*b*c", "a1c2b"));
}

/// The list of functions release builds lay out together (`hot-text.ld`, from recorded runs of a
/// release build) still names this code: a refactoring or a dependency update that renames much
/// of what a check and the agent run makes the list stale, and the agent's resident memory grows
/// back silently (docs/benchmarks.md). This debug build has other functions inlined than a release
/// build: a fresh list matches about 80 % of its patterns here. Regenerate it with scripts/hot-text.
#[test]
fn hot_text_still_names_the_code() {
    if !cfg!(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64")) {
        return;
    }
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/hot-text.ld")).unwrap();
    let patterns: Vec<&str> = script
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("*(.text."))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(patterns.len() > 1000, "hot-text.ld names {} functions: is it whole?", patterns.len());
    let nm = std::process::Command::new("nm").args(["--defined-only", BIN]).output().expect("nm (binutils)");
    assert!(nm.status.success(), "nm {BIN}: {}", String::from_utf8_lossy(&nm.stderr));
    let mut symbols: Vec<&str> =
        std::str::from_utf8(&nm.stdout).unwrap().lines().filter_map(|l| l.split_whitespace().nth(2)).collect();
    symbols.sort_unstable();
    let found = |pattern: &&&str| {
        let prefix = pattern.split('*').next().unwrap_or_default();
        let from = symbols.partition_point(|s| *s < prefix);
        symbols[from..].iter().take_while(|s| s.starts_with(prefix)).any(|s| glob(pattern, s))
    };
    let matched = patterns.iter().filter(found).count();
    let share = matched as f64 / patterns.len() as f64;
    assert!(
        share >= 0.7,
        "hot-text.ld is stale: {matched} of its {} patterns name a function of this build ({:.0} %, a fresh list \
         matches about 80 %); regenerate it with scripts/hot-text",
        patterns.len(),
        share * 100.0
    );
}
