//! Why a lab (or one of its helpers) could not be built: below every module that returns it, so
//! that the helpers (`tls`, `moto`, `postgres`) need not import the crate root.

/// Why a lab could not be built.
#[derive(Debug)]
pub struct LabError(pub String);

impl std::fmt::Display for LabError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
