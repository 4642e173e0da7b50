//! Lenient deserializers for service replies.

use serde::{Deserialize, Deserializer};

/// `null` or a value; `null` reads as `T::default()`.
pub(crate) fn nd<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StrOrNum {
    Str(String),
    U(u64),
    I(i64),
    F(f64),
}

/// A string, or a number read as its decimal text; `null` reads as `""`.
pub(crate) fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Option::<StrOrNum>::deserialize(d)? {
        None => String::new(),
        Some(StrOrNum::Str(s)) => s,
        Some(StrOrNum::U(n)) => n.to_string(),
        Some(StrOrNum::I(n)) => n.to_string(),
        Some(StrOrNum::F(n)) => n.to_string(),
    })
}

/// An unsigned integer, or a string holding one; `null` reads as 0.
pub(crate) fn u64_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Option::<StrOrNum>::deserialize(d)? {
        None => Ok(0),
        Some(StrOrNum::U(n)) => Ok(n),
        Some(StrOrNum::Str(s)) => s.trim().parse().map_err(|_| {
            serde::de::Error::custom(format!("expected an unsigned integer, got {s:?}"))
        }),
        Some(StrOrNum::I(_) | StrOrNum::F(_)) => {
            Err(serde::de::Error::custom("expected an unsigned integer"))
        }
    }
}
