//! Settings values that name one of a few choices (`kind: openai`, `backend: redis`). Parsed by
//! hand rather than by serde's enum support because the `config` crate reports a typo there as
//! "enum ProviderKind does not have variant constructor opneai"; this says what is allowed.

/// Implements `Deserialize` for a unit enum from its lower-case names:
/// `settings_enum!(Backend { "memory" => Memory, "redis" => Redis });`
macro_rules! settings_enum {
    ($ty:ident { $($name:literal => $variant:ident),+ $(,)? }) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = String::deserialize(d)?;
                match value.trim().to_ascii_lowercase().as_str() {
                    $($name => Ok($ty::$variant),)+
                    _ => Err(serde::de::Error::custom(format!(
                        "'{value}' is not one of {}",
                        [$($name),+].join(", ")
                    ))),
                }
            }
        }
    };
}
