//! Reads a JSON object field by field, collecting every broken rule at once.
//!
//! Types are strict (`"2"` is not an integer, `null` is not a value), and
//! whatever field a handler did not ask for is reported as unknown under its
//! own name: the contract rejects unknown fields rather than ignoring them.

use serde_json::{Map, Value};

use super::error::{ApiError, FieldError};

pub struct FieldReader {
    map: Map<String, Value>,
    prefix: String,
    errors: Vec<FieldError>,
}

impl FieldReader {
    /// The top-level request body: anything but an object is 422.
    pub fn of_body(value: Value) -> Result<Self, ApiError> {
        match value {
            Value::Object(map) => Ok(Self {
                map,
                prefix: String::new(),
                errors: Vec::new(),
            }),
            _ => Err(ApiError::validation("body", "must be a JSON object")),
        }
    }

    /// An array of objects, each read by `read_each` with its own `Fields`
    /// (named `name[i].field` in errors), holding `min..=max` entries.
    pub fn objects<T>(
        &mut self,
        name: &str,
        (min, max): (usize, usize),
        mut read_each: impl FnMut(&mut FieldReader) -> Option<T>,
    ) -> Option<Vec<T>> {
        let array = match self.map.remove(name) {
            None | Some(Value::Null) => {
                self.reject(name, "is required");
                return None;
            }
            Some(Value::Array(array)) => array,
            Some(_) => {
                self.reject(name, "must be an array");
                return None;
            }
        };
        if !(min..=max).contains(&array.len()) {
            self.reject(name, format!("must hold {min} to {max} entries"));
            return None;
        }
        let mut parsed = Vec::with_capacity(array.len());
        for (i, element) in array.into_iter().enumerate() {
            let prefix = format!("{}{name}[{i}]", self.prefix);
            let Value::Object(map) = element else {
                self.errors
                    .push(FieldError::new(prefix, "must be a JSON object"));
                continue;
            };
            let mut nested = FieldReader {
                map,
                prefix: format!("{prefix}."),
                errors: Vec::new(),
            };
            let value = read_each(&mut nested);
            match nested.finish() {
                Ok(()) => parsed.extend(value),
                Err(ApiError::Validation(errors)) => self.errors.extend(errors),
                Err(_) => unreachable!("finish only reports validation errors"),
            }
        }
        // Entries that failed are left out; `finish` reports them.
        Some(parsed)
    }

    fn path(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn reject(&mut self, name: &str, message: impl Into<String>) {
        let field = self.path(name);
        self.errors.push(FieldError::new(field, message));
    }

    /// A field that must be present and not null.
    pub fn required<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        match self.map.remove(name) {
            None | Some(Value::Null) => {
                self.reject(name, "is required");
                None
            }
            Some(value) => self.parsed(name, parse(&value)),
        }
    }

    /// A field that may be left out, but is not null when given.
    pub fn optional<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&Value) -> Result<T, String>,
    ) -> Option<T> {
        match self.map.remove(name) {
            None => None,
            Some(Value::Null) => {
                self.reject(name, "must not be null; leave the field out instead");
                None
            }
            Some(value) => self.parsed(name, parse(&value)),
        }
    }

    fn parsed<T>(&mut self, name: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.reject(name, message)).ok()
    }

    /// Records a rule that spans fields (for example "at least one of").
    pub fn reject_body(&mut self, message: impl Into<String>) {
        self.errors.push(FieldError::new(
            if self.prefix.is_empty() {
                "body"
            } else {
                self.prefix.trim_end_matches('.')
            },
            message,
        ));
    }

    /// Ends reading: unknown fields and every collected error become one 422.
    pub fn finish(mut self) -> Result<(), ApiError> {
        let mut unknown: Vec<String> = self.map.keys().cloned().collect();
        unknown.sort();
        for name in unknown {
            self.reject(&name, "is not a known field");
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// A JSON integer: `2.0`, `"2"` and `true` are not.
pub fn integer(value: &Value) -> Result<i64, String> {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            n.as_i64().ok_or_else(|| "is too large".to_string())
        }
        _ => Err("must be an integer".to_string()),
    }
}

/// A JSON string, as `&str`.
pub fn string(value: &Value) -> Result<&str, String> {
    value.as_str().ok_or_else(|| "must be a string".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors_of(result: Result<(), ApiError>) -> Vec<FieldError> {
        match result {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn every_broken_rule_is_reported_with_its_field() {
        let mut fields = FieldReader::of_body(json!({"a": 1, "c": null, "zz": true})).unwrap();
        assert!(fields
            .required("a", |v| string(v).map(str::to_owned))
            .is_none());
        assert!(fields
            .required("b", |v| string(v).map(str::to_owned))
            .is_none());
        assert!(fields
            .optional("c", |v| string(v).map(str::to_owned))
            .is_none());
        let fields_named: Vec<_> = errors_of(fields.finish())
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields_named, ["a", "b", "c", "zz"]);
    }

    #[test]
    fn non_objects_are_rejected() {
        for body in [json!(null), json!([]), json!(42), json!("x")] {
            assert!(matches!(
                FieldReader::of_body(body),
                Err(ApiError::Validation(_))
            ));
        }
    }
}
