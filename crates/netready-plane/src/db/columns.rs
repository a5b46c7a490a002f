//! Where typed values become columns and columns become typed values again: a report's status
//! as `ready`/`degraded`, its degraded endpoints as a JSON array. Only the store uses these; a
//! column that does not read back is [`StoreError::Corrupt`], never a guess.

use netready_check::Status;

use super::error::StoreError;
use crate::readiness::DegradedEndpoint;

pub(super) fn status_column(status: Status) -> &'static str {
    status.as_str()
}

pub(super) fn status_of(column: &str) -> Result<Status, StoreError> {
    match column {
        "ready" => Ok(Status::Ready),
        "degraded" => Ok(Status::Degraded),
        other => Err(StoreError::Corrupt(format!("a stored status is '{other}': expected ready or degraded"))),
    }
}

/// A column that holds one of a typed value's names (`service`, `reachability`, `access_type`,
/// `phase`): the value, or [`StoreError::Corrupt`] naming the column and what it holds.
pub(super) fn named<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    use serde::de::IntoDeserializer;
    T::deserialize(IntoDeserializer::<serde::de::value::Error>::into_deserializer(text))
        .map_err(|e| StoreError::Corrupt(format!("a stored {column} is '{text}': {e}")))
}

/// A row's column of names, read as its typed value.
pub(super) fn get_named<T: serde::de::DeserializeOwned>(r: &sqlx::any::AnyRow, column: &str) -> Result<T, StoreError> {
    use sqlx::Row;
    named(column, &r.try_get::<String, _>(column)?)
}

/// A row's nullable column of names, read as its typed value.
pub(super) fn get_named_opt<T: serde::de::DeserializeOwned>(
    r: &sqlx::any::AnyRow,
    column: &str,
) -> Result<Option<T>, StoreError> {
    use sqlx::Row;
    r.try_get::<Option<String>, _>(column)?.map(|text| named(column, &text)).transpose()
}

pub(super) fn degraded_column(degraded: &[DegradedEndpoint]) -> String {
    // Plain data with string keys: serializing cannot fail.
    serde_json::to_string(degraded).unwrap_or_else(|_| "[]".to_owned())
}

pub(super) fn degraded_of(column: &str) -> Result<Vec<DegradedEndpoint>, StoreError> {
    serde_json::from_str(column)
        .map_err(|e| StoreError::Corrupt(format!("stored degraded endpoints do not read back: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn columns_read_back_and_corrupt_ones_are_said() {
        for s in [Status::Ready, Status::Degraded] {
            assert_eq!(status_of(status_column(s)).unwrap(), s);
        }
        assert!(matches!(status_of("stale"), Err(StoreError::Corrupt(_))));
        let text = r#"[{"service":"logs","host":"logs.eu-west-3.amazonaws.com","reachability":"none","access_type":"vpc_endpoint"}]"#;
        let typed = degraded_of(text).unwrap();
        assert_eq!(degraded_column(&typed), text, "the stored shape is kept byte for byte");
        assert!(matches!(degraded_of("{"), Err(StoreError::Corrupt(_))));
        use netready_check::classify::{AccessType, Reachability};
        use netready_check::types::ServiceKey;
        assert_eq!(named::<ServiceKey>("service", "ecr_api").unwrap(), ServiceKey::EcrApi);
        assert_eq!(named::<Reachability>("reachability", "none").unwrap(), Reachability::None);
        assert_eq!(named::<AccessType>("access_type", "vpc_endpoint").unwrap(), AccessType::VpcEndpoint);
        for p in crate::readiness::Phase::ALL {
            assert_eq!(named::<crate::readiness::Phase>("phase", p.as_str()).unwrap(), p);
        }
        match named::<Reachability>("reachability", "most") {
            Err(StoreError::Corrupt(said)) => assert!(said.contains("reachability is 'most'"), "{said}"),
            other => panic!("a name that does not parse is corrupt data, not {other:?}"),
        }
    }
}
