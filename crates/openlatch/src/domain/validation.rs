//! Collecting field-level validation errors, so one response names every bad field.

use std::collections::BTreeMap;

pub type FieldErrors = BTreeMap<String, String>;

#[derive(Debug, Default)]
pub struct Validation {
    errors: FieldErrors,
}

impl Validation {
    /// Records the error of `result` under `field` and passes the value through.
    pub fn field<T, E: ToString>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.errors.insert(field.to_owned(), e.to_string());
                None
            }
        }
    }

    /// Like [`Validation::field`] for an optional input: `None` stays `None`.
    pub fn optional<T, E: ToString>(
        &mut self,
        field: &str,
        result: Option<Result<T, E>>,
    ) -> Option<Option<T>> {
        match result {
            None => Some(None),
            Some(r) => self.field(field, r).map(Some),
        }
    }

    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.insert(field.to_owned(), message.into());
    }

    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn into_errors(self) -> FieldErrors {
        self.errors
    }
}
