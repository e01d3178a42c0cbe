//! Deserializing the tolerant wire types (typed fields plus an `extra` map for the rest) in one
//! pass over the object.
//!
//! `#[serde(flatten)]` would do the same with a derive, but serde implements it by first copying
//! the whole object into its private buffered `Content` tree and then reading the fields out of
//! that copy — at every nesting level, so a streamed chunk (chunk → choice → delta) was copied
//! three times before use. Profiles of a streamed answer put `parse_chunk` at ~13 µs per
//! 20-chunk stream, most of it that buffering. [`tolerant_deserialize!`] visits the object's
//! keys once: a known key is read straight into its typed field, any other into `extra` as a
//! `Value`. The meaning is the derive's: a missing field keeps the value the struct starts from,
//! a typed field of the wrong type is an error, unknown fields are kept.

use std::borrow::Cow;

use serde::de::{self, Deserializer, Visitor};

/// An object key, borrowed from the input when it has no escapes.
pub struct Key<'de>(pub Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// `tolerant_deserialize!(Type, "what it is", start, { "json_key" => field, ... })` implements
/// `Deserialize` for `Type`: the object's keys are read into the listed fields of `start` (the
/// value a missing field keeps), every other key into `start.extra`.
macro_rules! tolerant_deserialize {
    ($ty:ident, $what:literal, $start:expr, { $($key:literal => $field:ident),* $(,)? }) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct ObjectVisitor;
                impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
                    type Value = $ty;

                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str($what)
                    }

                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$ty, A::Error> {
                        let mut out: $ty = $start;
                        while let Some(key) = map.next_key::<$crate::wire::tolerant::Key<'de>>()? {
                            match key.0.as_ref() {
                                $($key => out.$field = map.next_value()?,)*
                                _ => {
                                    let value = map.next_value::<serde_json::Value>()?;
                                    out.extra.insert(key.0.into_owned(), value);
                                }
                            }
                        }
                        Ok(out)
                    }
                }
                deserializer.deserialize_map(ObjectVisitor)
            }
        }
    };
}

pub(crate) use tolerant_deserialize;
