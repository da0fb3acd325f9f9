//! JSON with object keys in sorted order, so that a document's bytes, and so
//! its digest, do not depend on the order of the hash maps it came from.

use anyhow::Context;
use serde::Serialize;
use serde_json::{Map, Value};

/// Serializes `value` as compact JSON with every object's keys sorted.
pub fn to_canonical_vec<T: Serialize>(value: &T) -> anyhow::Result<Vec<u8>> {
    let value = serde_json::to_value(value).context("cannot convert to JSON")?;
    serde_json::to_vec(&sort_keys(value)).context("cannot write JSON")
}

fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key, sort_keys(value)))
                    .collect::<Map<String, Value>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn keys_are_sorted_at_every_level() {
        let mut labels = HashMap::new();
        for key in ["zeta", "alpha", "io.crossplane.xpkg:sha256:00", "mid"] {
            labels.insert(key.to_owned(), "x".to_owned());
        }
        let document = serde_json::json!({
            "schemaVersion": 2,
            "config": {"Labels": labels, "User": "65532"},
            "layers": [{"size": 1, "digest": "sha256:00"}],
        });

        let text = String::from_utf8(to_canonical_vec(&document).unwrap()).unwrap();

        assert_eq!(
            text,
            r#"{"config":{"Labels":{"alpha":"x","io.crossplane.xpkg:sha256:00":"x","mid":"x","zeta":"x"},"User":"65532"},"layers":[{"digest":"sha256:00","size":1}],"schemaVersion":2}"#
        );
    }
}
