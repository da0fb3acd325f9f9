//! Lossless conversion between `google.protobuf.Struct` and `serde_json::Value`.
//!
//! A Struct number is an IEEE 754 double, so integers are exact only up to
//! 2^53 (9007199254740992). A JSON integer above that is rounded to the
//! nearest double when it enters a Struct, exactly as Crossplane itself does
//! when it encodes a resource. A double with no fractional part that fits in
//! an `i64` comes back as a JSON integer, so `replicas: 3` stays `3` and
//! never becomes `3.0`. A double that is NaN or infinite has no JSON form and
//! becomes `null`; JSON itself cannot carry one, so this happens only with
//! Structs built by hand.

use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value as ProtoValue};
use serde_json::{Map, Number, Value};

/// The error returned when a JSON value other than an object is converted to
/// a Struct, which can only hold an object.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a google.protobuf.Struct holds a JSON object, not {found}")]
pub struct NotAnObject {
    /// The JSON type that was given, such as `an array`.
    pub found: &'static str,
}

/// Converts a Struct into a JSON object.
pub fn struct_to_json(value: &Struct) -> Value {
    Value::Object(struct_to_map(value))
}

/// Converts a Struct into a JSON map, keeping the Struct's key order.
pub fn struct_to_map(value: &Struct) -> Map<String, Value> {
    value
        .fields
        .iter()
        .map(|(key, field)| (key.clone(), proto_value_to_json(field)))
        .collect()
}

/// Converts a JSON object into a Struct; any other JSON type is an error.
pub fn json_to_struct(value: &Value) -> Result<Struct, NotAnObject> {
    match value {
        Value::Object(map) => Ok(map_to_struct(map)),
        other => Err(NotAnObject {
            found: json_type_name(other),
        }),
    }
}

/// Converts a JSON map into a Struct.
pub fn map_to_struct(map: &Map<String, Value>) -> Struct {
    Struct {
        fields: map
            .iter()
            .map(|(key, field)| (key.clone(), json_to_proto_value(field)))
            .collect(),
    }
}

/// Converts one Struct value into JSON.
pub fn proto_value_to_json(value: &ProtoValue) -> Value {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::NumberValue(n)) => number_to_json(*n),
        Some(Kind::StructValue(s)) => struct_to_json(s),
        Some(Kind::ListValue(list)) => {
            Value::Array(list.values.iter().map(proto_value_to_json).collect())
        }
    }
}

/// Converts a double to a JSON number, preferring an integer where the
/// double is integral.
fn number_to_json(n: f64) -> Value {
    // 2^63 as a double; every integral double in [-2^63, 2^63) fits in i64.
    const I64_BOUND: f64 = 9_223_372_036_854_775_808.0;

    if n.fract() == 0.0 && (-I64_BOUND..I64_BOUND).contains(&n) {
        return Value::Number(Number::from(n as i64));
    }

    Number::from_f64(n).map_or(Value::Null, Value::Number)
}

fn json_to_proto_value(value: &Value) -> ProtoValue {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.iter().map(json_to_proto_value).collect(),
        }),
        Value::Object(map) => Kind::StructValue(map_to_struct(map)),
    };

    ProtoValue { kind: Some(kind) }
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_every_json_type() {
        let value = json!({
            "apiVersion": "helm.crossplane.io/v1beta1",
            "replicas": 3,
            "negative": -42,
            "ratio": 0.25,
            "enabled": true,
            "nothing": null,
            "list": [1, "two", {"three": [false]}],
            "nested": {"empty": {}, "emptyList": []},
        });

        let back = struct_to_json(&json_to_struct(&value).unwrap());

        assert_eq!(back, value);
    }

    #[test]
    fn integers_stay_integers() {
        let back = struct_to_json(&json_to_struct(&json!({"n": 600})).unwrap());

        assert_eq!(back["n"].to_string(), "600");
    }

    #[test]
    fn integers_above_2_pow_53_round_to_double() {
        let exact = 9_007_199_254_740_992_i64;
        let back = struct_to_json(&json_to_struct(&json!({"a": exact, "b": exact + 1})).unwrap());

        assert_eq!(back["a"], json!(exact));
        assert_eq!(
            back["b"],
            json!(exact),
            "2^53 + 1 has no double and rounds to 2^53"
        );
    }

    #[test]
    fn non_finite_numbers_become_null() {
        let s = Struct {
            fields: [(
                "x".to_string(),
                ProtoValue {
                    kind: Some(Kind::NumberValue(f64::NAN)),
                },
            )]
            .into(),
        };

        assert_eq!(struct_to_json(&s), json!({"x": null}));
    }

    #[test]
    fn unset_kind_becomes_null() {
        let s = Struct {
            fields: [("x".to_string(), ProtoValue { kind: None })].into(),
        };

        assert_eq!(struct_to_json(&s), json!({"x": null}));
    }

    #[test]
    fn non_objects_are_rejected() {
        assert_eq!(
            json_to_struct(&json!([1])).unwrap_err().to_string(),
            "a google.protobuf.Struct holds a JSON object, not an array"
        );
    }
}
