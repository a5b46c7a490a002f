//! The name people give a runner, checked in one place by one rule: the API, `add_runner` and the
//! command line all take a [`RunnerName`], so a name one of them accepts none of the others refuses.

use std::fmt;

/// The most characters (not bytes: a CJK name is three bytes a character) a runner name may have.
pub const MAX_RUNNER_NAME_CHARS: usize = 200;

/// A runner name: trimmed, 1 to [`MAX_RUNNER_NAME_CHARS`] characters, no control character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerName(String);

/// A name that breaks the rule; says the rule, with an example.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a runner name must have 1 to 200 printable characters, such as eu-west-3/build-fleet")]
pub struct InvalidRunnerName;

impl RunnerName {
    pub fn parse(name: &str) -> Result<RunnerName, InvalidRunnerName> {
        let name = name.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_RUNNER_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(InvalidRunnerName);
        }
        Ok(RunnerName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunnerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_counts_characters_not_bytes() {
        let cjk = |n: usize| "名".repeat(n);
        for (name, ok) in [
            (cjk(100), true),
            (cjk(200), true),
            (cjk(201), false),
            ("a".repeat(200), true),
            ("a".repeat(201), false),
            ("  eu-west-3 / build  ".into(), true),
            ("   ".into(), false),
            (String::new(), false),
            ("tab\there".into(), false),
            ("nul\0".into(), false),
        ] {
            assert_eq!(RunnerName::parse(&name).is_ok(), ok, "{name:?} ({} bytes)", name.len());
        }
        assert_eq!(RunnerName::parse("  x ").unwrap().as_str(), "x");
    }
}
