//! Protobuf encoding of a `RunFunctionResponse` in time linear in its size.
//!
//! prost writes a nested message's length before its body, and finds that
//! length by walking the body. Every enclosing message does the same, so a
//! value nested `d` messages deep is walked `d` times. A composed resource
//! nests many messages deep, because each Struct map entry and each `Value`
//! is a message, which made length walks the largest cost of encoding a
//! response.
//!
//! This encoder writes the message back to front instead: a body is
//! written before its length prefix, so the length is simply the number of
//! bytes written since the body began. The output equals prost's encoding
//! byte for byte, and the tests compare both on arbitrary responses.

use prost::Message;
use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value};

use crate::proto::v1::{Resource, RunFunctionResponse, State};

/// Protobuf wire type of varint fields.
const VARINT: u32 = 0;
/// Protobuf wire type of 64-bit fixed fields.
const FIXED64: u32 = 1;
/// Protobuf wire type of strings, bytes and messages.
const LENGTH_DELIMITED: u32 = 2;

/// Encodes `response` exactly as `prost::Message::encode_to_vec` does.
pub fn encode_response(response: &RunFunctionResponse) -> Vec<u8> {
    let mut out = Backward::default();

    // Fields go in reverse order of their numbers, because the buffer is
    // reversed at the end.
    if let Some(output) = &response.output {
        out.nested(7, |out| out.struct_body(output));
    }
    for condition in response.conditions.iter().rev() {
        out.prost_message(6, condition);
    }
    if let Some(requirements) = &response.requirements {
        out.prost_message(5, requirements);
    }
    if let Some(context) = &response.context {
        out.nested(4, |out| out.struct_body(context));
    }
    for result in response.results.iter().rev() {
        out.prost_message(3, result);
    }
    if let Some(desired) = &response.desired {
        out.nested(2, |out| out.state_body(desired));
    }
    if let Some(meta) = &response.meta {
        out.prost_message(1, meta);
    }

    out.finish()
}

/// A byte buffer filled from the end of the message towards its start, so
/// `bytes` contains the message in reverse order.
#[derive(Default)]
struct Backward {
    bytes: Vec<u8>,
}

impl Backward {
    fn finish(mut self) -> Vec<u8> {
        self.bytes.reverse();
        self.bytes
    }

    fn put_slice(&mut self, slice: &[u8]) {
        self.bytes.extend(slice.iter().rev());
    }

    fn put_varint(&mut self, value: u64) {
        let mut encoded = [0_u8; 10];
        let mut rest = value;
        let mut len = 0;
        loop {
            let low = (rest & 0x7f) as u8;
            rest >>= 7;
            if rest == 0 {
                encoded[len] = low;
                len += 1;
                break;
            }
            encoded[len] = low | 0x80;
            len += 1;
        }
        self.put_slice(&encoded[..len]);
    }

    fn put_key(&mut self, tag: u32, wire_type: u32) {
        self.put_varint(u64::from((tag << 3) | wire_type));
    }

    /// Writes a length-delimited field whose body `body` writes.
    fn nested(&mut self, tag: u32, body: impl FnOnce(&mut Self)) {
        let start = self.bytes.len();
        body(self);
        let len = self.bytes.len() - start;
        self.put_varint(len as u64);
        self.put_key(tag, LENGTH_DELIMITED);
    }

    /// Writes a small protocol message with prost itself. None of these
    /// messages contains a Struct, so prost's length walks stay short.
    fn prost_message(&mut self, tag: u32, message: &impl Message) {
        let body = message.encode_to_vec();
        self.nested(tag, |out| out.put_slice(&body));
    }

    fn string(&mut self, tag: u32, value: &str) {
        self.nested(tag, |out| out.put_slice(value.as_bytes()));
    }

    /// Writes an `int32` or enum field, which protobuf sign-extends to 64
    /// bits when negative.
    fn int32(&mut self, tag: u32, value: i32) {
        self.put_varint(i64::from(value) as u64);
        self.put_key(tag, VARINT);
    }

    fn state_body(&mut self, state: &State) {
        let empty = Resource::default();
        for (name, resource) in state.resources.iter().rev() {
            // A map entry leaves out a key or value equal to its default.
            self.nested(2, |out| {
                if *resource != empty {
                    out.nested(2, |out| out.resource_body(resource));
                }
                if !name.is_empty() {
                    out.string(1, name);
                }
            });
        }
        if let Some(composite) = &state.composite {
            self.nested(1, |out| out.resource_body(composite));
        }
    }

    fn resource_body(&mut self, resource: &Resource) {
        if resource.ready != 0 {
            self.int32(3, resource.ready);
        }
        for (key, value) in resource.connection_details.iter().rev() {
            self.nested(2, |out| {
                if !value.is_empty() {
                    out.nested(2, |out| out.put_slice(value));
                }
                if !key.is_empty() {
                    out.string(1, key);
                }
            });
        }
        if let Some(body) = &resource.resource {
            self.nested(1, |out| out.struct_body(body));
        }
    }

    fn struct_body(&mut self, value: &Struct) {
        for (key, field) in value.fields.iter().rev() {
            self.nested(1, |out| {
                if field.kind.is_some() {
                    out.nested(2, |out| out.value_body(field));
                }
                if !key.is_empty() {
                    out.string(1, key);
                }
            });
        }
    }

    fn list_body(&mut self, list: &ListValue) {
        for item in list.values.iter().rev() {
            self.nested(1, |out| out.value_body(item));
        }
    }

    /// Writes the one field of a `Value`'s oneof. A oneof field that is set
    /// is written even when it contains its type's default.
    fn value_body(&mut self, value: &Value) {
        match &value.kind {
            None => {}
            Some(Kind::NullValue(null)) => self.int32(1, *null),
            Some(Kind::NumberValue(number)) => {
                self.put_slice(&number.to_le_bytes());
                self.put_key(2, FIXED64);
            }
            Some(Kind::StringValue(string)) => self.string(3, string),
            Some(Kind::BoolValue(boolean)) => {
                self.put_varint(u64::from(*boolean));
                self.put_key(4, VARINT);
            }
            Some(Kind::StructValue(nested)) => self.nested(5, |out| out.struct_body(nested)),
            Some(Kind::ListValue(list)) => self.nested(6, |out| out.list_body(list)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::proto::v1::{
        Condition, Requirements, ResourceSelector, ResponseMeta, Result as FunctionResult,
    };

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value { kind: None }),
            prop_oneof![Just(0), Just(-1), any::<i32>()].prop_map(|n| Value {
                kind: Some(Kind::NullValue(n))
            }),
            prop_oneof![Just(0.0), Just(-0.0), Just(f64::NAN), any::<f64>()].prop_map(|n| Value {
                kind: Some(Kind::NumberValue(n))
            }),
            prop_oneof![Just(String::new()), ".{0,300}"].prop_map(|s| Value {
                kind: Some(Kind::StringValue(s))
            }),
            any::<bool>().prop_map(|b| Value {
                kind: Some(Kind::BoolValue(b))
            }),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(8, 128, 6, |inner| {
            prop_oneof![
                prop::collection::btree_map("[a-z]{0,4}", inner.clone(), 0..6).prop_map(|fields| {
                    Value {
                        kind: Some(Kind::StructValue(Struct { fields })),
                    }
                }),
                prop::collection::vec(inner, 0..6).prop_map(|values| Value {
                    kind: Some(Kind::ListValue(ListValue { values }))
                }),
            ]
        })
    }

    fn structure() -> impl Strategy<Value = Struct> {
        prop::collection::btree_map("[a-z]{0,4}", value(), 0..6)
            .prop_map(|fields| Struct { fields })
    }

    fn resource() -> impl Strategy<Value = Resource> {
        (
            prop::option::of(structure()),
            prop::collection::btree_map(
                "[a-z]{0,3}",
                prop::collection::vec(any::<u8>(), 0..4),
                0..3,
            ),
            prop_oneof![Just(0), Just(1), Just(2), any::<i32>()],
        )
            .prop_map(|(resource, connection_details, ready)| Resource {
                resource,
                connection_details,
                ready,
            })
    }

    fn response() -> impl Strategy<Value = RunFunctionResponse> {
        let state = (
            prop::option::of(resource()),
            prop::collection::btree_map("[a-z-]{0,8}", resource(), 0..4),
        )
            .prop_map(|(composite, resources)| State {
                composite,
                resources,
            });
        let result =
            ("[a-z ]{0,20}", any::<i32>()).prop_map(|(message, severity)| FunctionResult {
                message,
                severity,
                ..Default::default()
            });
        let condition = ("[A-Za-z]{0,10}", any::<i32>()).prop_map(|(r#type, status)| Condition {
            r#type,
            status,
            ..Default::default()
        });
        let requirements =
            prop::collection::btree_map("[a-z]{0,5}", "[a-z]{0,5}", 0..3).prop_map(|names| {
                Requirements {
                    resources: names
                        .into_iter()
                        .map(|(key, kind)| {
                            (
                                key,
                                ResourceSelector {
                                    kind,
                                    ..Default::default()
                                },
                            )
                        })
                        .collect(),
                    ..Default::default()
                }
            });

        (
            prop::option::of("[a-f0-9]{0,16}".prop_map(|tag| ResponseMeta {
                tag,
                ..Default::default()
            })),
            prop::option::of(state),
            prop::collection::vec(result, 0..3),
            prop::option::of(structure()),
            prop::option::of(requirements),
            prop::collection::vec(condition, 0..3),
            prop::option::of(structure()),
        )
            .prop_map(
                |(meta, desired, results, context, requirements, conditions, output)| {
                    RunFunctionResponse {
                        meta,
                        desired,
                        results,
                        context,
                        requirements,
                        conditions,
                        output,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn encoding_equals_prost(response in response()) {
            prop_assert_eq!(encode_response(&response), response.encode_to_vec());
        }
    }

    #[test]
    fn empty_response_encodes_empty() {
        assert!(encode_response(&RunFunctionResponse::default()).is_empty());
    }

    #[test]
    fn default_map_entries_left_out() {
        let response = RunFunctionResponse {
            desired: Some(State {
                composite: Some(Resource::default()),
                resources: BTreeMap::from([
                    (String::new(), Resource::default()),
                    ("empty".to_string(), Resource::default()),
                ]),
            }),
            context: Some(Struct {
                fields: BTreeMap::from([(String::new(), Value { kind: None })]),
            }),
            ..Default::default()
        };

        let bytes = encode_response(&response);

        assert_eq!(bytes, response.encode_to_vec());
        assert_eq!(
            RunFunctionResponse::decode(bytes.as_slice()).unwrap(),
            response
        );
    }
}
