//! Bytes as hex, and random ids and secrets from the operating system. Below every other module:
//! tokens, sessions, runner ids, channel ids and signatures all use it.

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` random bytes from the operating system, as hex: tokens, secrets and ids.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // The OS random source failing is not something to recover from.
    getrandom::fill(&mut bytes).expect("the operating system's random number generator is unavailable");
    hex(&bytes)
}
