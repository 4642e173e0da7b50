//! Parameter checking: names per action (unknown → `UnknownParameter`), required ones
//! (`MissingParameter`), JSON types (`InvalidParameterValue`), and typed accessors.

use std::net::Ipv4Addr;

use serde_json::{Map, Value};

use super::ApiError;

pub(crate) type Params = Map<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    UInt,
    Bool,
    StrList,
    /// A list whose items the action checks itself.
    List,
}

/// One accepted parameter: name, JSON type, required.
pub(crate) type Spec = (&'static str, Kind, bool);

fn type_ok(v: &Value, kind: Kind) -> bool {
    match kind {
        Kind::Str => v.is_string(),
        Kind::UInt => v.is_u64(),
        Kind::Bool => v.is_boolean(),
        Kind::StrList => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        Kind::List => v.is_array(),
    }
}

/// Checks names, presence and types of `p` against `spec`.
pub(crate) fn check(p: &Params, spec: &[Spec]) -> Result<(), ApiError> {
    for key in p.keys() {
        if !spec.iter().any(|(name, _, _)| name == key) {
            return Err(ApiError::new(
                "UnknownParameter",
                format!("The parameter `{key}` is not recognized."),
            ));
        }
    }
    for (name, kind, required) in spec {
        match p.get(*name) {
            None if *required => {
                return Err(ApiError::new(
                    "MissingParameter",
                    format!("The request is missing a required parameter `{name}`."),
                ));
            }
            Some(v) if !type_ok(v, *kind) => {
                return Err(ApiError::new(
                    "InvalidParameterValue",
                    format!("The value type of parameter `{name}` is not valid."),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

pub(crate) fn str_opt<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.get(name).and_then(Value::as_str)
}

/// A required string (presence already checked by [`check`]).
pub(crate) fn str_req<'a>(p: &'a Params, name: &str) -> Result<&'a str, ApiError> {
    str_opt(p, name).ok_or_else(|| {
        ApiError::new(
            "MissingParameter",
            format!("The request is missing a required parameter `{name}`."),
        )
    })
}

pub(crate) fn u64_opt(p: &Params, name: &str) -> Option<u64> {
    p.get(name).and_then(Value::as_u64)
}

pub(crate) fn str_list(p: &Params, name: &str) -> Vec<String> {
    p.get(name)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn list<'a>(p: &'a Params, name: &str) -> &'a [Value] {
    p.get(name)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// An IPv4 address parameter; malformed → `InvalidParameterValue.Malformed`.
pub(crate) fn ip(name: &str, value: &str) -> Result<Ipv4Addr, ApiError> {
    value.parse().map_err(|_| {
        ApiError::new(
            "InvalidParameterValue.Malformed",
            format!("The value `{value}` of parameter `{name}` is not a valid IPv4 address."),
        )
    })
}

/// A resource id parameter such as `eni-abc12345`; malformed →
/// `InvalidParameterValue.Malformed`.
pub(crate) fn id<'a>(name: &str, value: &'a str, prefix: &str) -> Result<&'a str, ApiError> {
    let ok = value
        .strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()));
    if ok {
        Ok(value)
    } else {
        Err(ApiError::new(
            "InvalidParameterValue.Malformed",
            format!("The value `{value}` of parameter `{name}` is malformed."),
        ))
    }
}

/// `Offset` / `Limit`: default 0 / 20, Limit at most 100 (`InvalidParameterValue.Range`).
pub(crate) fn paging(p: &Params) -> Result<(usize, usize), ApiError> {
    let offset = u64_opt(p, "Offset").unwrap_or(0);
    let limit = u64_opt(p, "Limit").unwrap_or(20);
    if limit > 100 {
        return Err(ApiError::new(
            "InvalidParameterValue.Range",
            format!("The value `{limit}` of parameter `Limit` is out of range [0, 100]."),
        ));
    }
    Ok((
        usize::try_from(offset).unwrap_or(usize::MAX),
        usize::try_from(limit).unwrap_or(100),
    ))
}

/// One `{Name, Values}` filter.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

/// Parses `Filters`, allowing only `names` (a name ending in `*` allows that prefix).
pub(crate) fn filters(p: &Params, names: &[&str]) -> Result<Vec<Filter>, ApiError> {
    let mut out = Vec::new();
    for f in list(p, "Filters") {
        let Some(obj) = f.as_object() else {
            return Err(ApiError::new(
                "InvalidParameter.FilterNotDict",
                "Each element of `Filters` must be an object with Name and Values.",
            ));
        };
        for k in obj.keys() {
            if k != "Name" && k != "Values" {
                return Err(ApiError::new(
                    "UnknownParameter",
                    format!("The parameter `Filters.{k}` is not recognized."),
                ));
            }
        }
        let Some(name) = obj.get("Name").and_then(Value::as_str) else {
            return Err(ApiError::new(
                "MissingParameter",
                "The request is missing a required parameter `Filters.Name`.",
            ));
        };
        let Some(values) = obj.get("Values").and_then(Value::as_array) else {
            return Err(ApiError::new(
                "InvalidParameter.FilterValuesNotList",
                format!("The `Values` of filter `{name}` must be a list."),
            ));
        };
        let mut vals = Vec::with_capacity(values.len());
        for v in values {
            let Some(s) = v.as_str() else {
                return Err(ApiError::new(
                    "InvalidParameterValue",
                    format!("The values of filter `{name}` must be strings."),
                ));
            };
            vals.push(s.to_string());
        }
        let known = names.iter().any(|n| match n.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => n == &name,
        });
        if !known {
            return Err(ApiError::new(
                "InvalidParameter.FilterInvalidKey",
                format!("The filter `{name}` is not supported."),
            ));
        }
        out.push(Filter {
            name: name.to_string(),
            values: vals,
        });
    }
    Ok(out)
}

/// A `"TRUE"`/`"FALSE"` filter value.
pub(crate) fn bool_value(filter: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "TRUE" | "true" => Ok(true),
        "FALSE" | "false" => Ok(false),
        _ => Err(ApiError::new(
            "InvalidParameterValue.Malformed",
            format!("The value `{v}` of filter `{filter}` must be TRUE or FALSE."),
        )),
    }
}

/// Applies paging to a full result list.
pub(crate) fn page<T: Clone>(items: &[T], offset: usize, limit: usize) -> Vec<T> {
    items.iter().skip(offset).take(limit).cloned().collect()
}
