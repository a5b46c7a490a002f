//! The Python test tools — moto's server and boto3, cfn-lint with PyYAML, schemathesis — at the
//! versions pinned in `tests/python/requirements.txt`, from the project's own virtual environment
//! that `scripts/install-test-deps.sh` makes. Never from PATH: a machine that happens to have
//! another version installed (moto 5.2.1 broke the AWS lab tests that way) must not decide what
//! the tests run against.
//!
//! The environment is `$NETREADY_TEST_VENV`, else `$XDG_CACHE_HOME/netready/test-venv`, else
//! `~/.cache/netready/test-venv` — the same rule as the install script. It holds a copy of the
//! requirements file it was made from; a copy that differs from the source tree's means the
//! environment is out of date, and the tests say so instead of running against it.
//!
//! Errors here are `String`s on purpose: the reason tests skip (or panic in CI); no caller
//! decides on their kind.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The project's test-tool environment, checked to match the pinned requirements.
#[derive(Debug)]
pub struct Venv {
    dir: PathBuf,
    requirements: String,
}

/// The pinned requirements, as the source tree has them.
pub fn requirements_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/requirements.txt")
}

/// Where the environment is (whether or not it exists).
pub fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("NETREADY_TEST_VENV").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/root/.cache"));
    cache.join("netready/test-venv")
}

impl Venv {
    /// The environment, or why the tests cannot use it (missing, or made from other pins).
    pub fn get() -> Result<&'static Venv, String> {
        static VENV: OnceLock<Result<Venv, String>> = OnceLock::new();
        VENV.get_or_init(Venv::open).as_ref().map_err(Clone::clone)
    }

    fn open() -> Result<Venv, String> {
        let dir = venv_dir();
        let fix = "run scripts/install-test-deps.sh";
        let requirements = std::fs::read_to_string(requirements_path())
            .map_err(|e| format!("cannot read {}: {e}", requirements_path().display()))?;
        if !dir.join("bin/python").is_file() {
            return Err(format!("the test tools' environment {} does not exist: {fix}", dir.display()));
        }
        match std::fs::read_to_string(dir.join("netready-requirements.txt")) {
            Ok(made_from) if made_from == requirements => Ok(Venv { dir, requirements }),
            Ok(_) => Err(format!(
                "the test tools' environment {} was made from other pins than tests/python/requirements.txt: {fix}",
                dir.display()
            )),
            Err(_) => Err(format!("the test tools' environment {} is incomplete: {fix}", dir.display())),
        }
    }

    /// The environment's Python.
    pub fn python(&self) -> PathBuf {
        self.dir.join("bin/python")
    }

    /// A console script of the environment (`moto_server`, `cfn-lint`, `schemathesis`).
    pub fn bin(&self, name: &str) -> PathBuf {
        self.dir.join("bin").join(name)
    }

    /// The pinned version of `package` (as the requirements file spells its name), e.g.
    /// `version("moto")` → `Some("5.2.5")`, for messages that say what the tests ran against.
    pub fn version(&self, package: &str) -> Option<&str> {
        pinned_version(&self.requirements, package)
    }

    /// `package version (tests/python/requirements.txt, from DIR)`, for test output.
    pub fn describe(&self, package: &str) -> String {
        let version = self.version(package).unwrap_or("(not pinned)");
        format!("{package} {version} (tests/python/requirements.txt, from {})", self.dir.display())
    }
}

/// The version pinned for `package` in a `pip freeze`-style file (`name==version`, names compared
/// as pip does: case-insensitive, `-`, `_` and `.` alike).
fn pinned_version<'a>(requirements: &'a str, package: &str) -> Option<&'a str> {
    let normal = |name: &str| name.to_ascii_lowercase().replace(['_', '.'], "-");
    requirements.lines().map(str::trim).filter(|l| !l.starts_with('#')).find_map(|line| {
        let (name, version) = line.split_once("==")?;
        let name = name.split('[').next().unwrap_or(name);
        (normal(name.trim()) == normal(package)).then(|| version.trim())
    })
}

/// The environment, or `None` after recording a skip; a panic when the tests must run (CI, or
/// `NETREADY_LAB=required`). `what` names the tests, e.g. "the CloudFormation tests".
pub fn or_skip(what: &str) -> Option<&'static Venv> {
    match Venv::get() {
        Ok(venv) => Some(venv),
        Err(why) if crate::lab_required() => panic!("{what} are required (CI or NETREADY_LAB=required) but {why}"),
        Err(why) => {
            crate::record_skip(&format!("{what} need the pinned Python tools: {why}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pinned_version;

    #[test]
    fn pinned_versions_are_found_as_pip_compares_names() {
        let file = "# comment moto==1\nmoto==5.2.5\nPyYAML==6.0.3\ncfn-lint==1.58.0\nflask_cors==6.0.5\n";
        assert_eq!(pinned_version(file, "moto"), Some("5.2.5"));
        assert_eq!(pinned_version(file, "pyyaml"), Some("6.0.3"));
        assert_eq!(pinned_version(file, "cfn_lint"), Some("1.58.0"));
        assert_eq!(pinned_version(file, "flask-cors"), Some("6.0.5"));
        assert_eq!(pinned_version(file, "boto3"), None);
        assert_eq!(pinned_version("moto[server]==5.2.5\n", "moto"), Some("5.2.5"));
    }

    #[test]
    fn the_source_trees_pins_name_every_tool_the_tests_run() {
        let file = std::fs::read_to_string(super::requirements_path()).expect("tests/python/requirements.txt");
        for package in ["moto", "boto3", "cfn-lint", "schemathesis", "PyYAML", "flask", "flask-cors"] {
            assert!(pinned_version(&file, package).is_some(), "{package} is not pinned in requirements.txt");
        }
        for line in file.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            assert!(line.contains("=="), "not an exact pin: {line}");
        }
    }
}
