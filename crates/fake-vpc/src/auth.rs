//! TC3-HMAC-SHA256 verification of an API request, using the pure signer of `tencent-api`.
//!
//! The Authorization header is parsed (`Credential=ID/DATE/SERVICE/tc3_request,
//! SignedHeaders=..., Signature=...`), the canonical request is rebuilt from the received headers
//! that SignedHeaders names (which must include `content-type` and `host`) and the exact body
//! bytes, and the signature is recomputed and compared.

use std::time::SystemTime;

use tencent_api::sign::{ALGORITHM, SignInput, sign};

use crate::api_error::ApiError;
use crate::http::Request;
use crate::world::World;

/// Allowed clock skew between the request timestamp and the server, in seconds.
pub const MAX_SKEW_S: i64 = 300;

/// The parts of an Authorization header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub secret_id: String,
    pub date: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub secret_id: String,
    /// Set for temporary (role) credentials.
    pub role: Option<String>,
}

fn invalid_auth(msg: &str) -> ApiError {
    ApiError::new("AuthFailure.InvalidAuthorization", msg)
}

/// Parses `TC3-HMAC-SHA256 Credential=.../tc3_request, SignedHeaders=..., Signature=...`.
pub fn parse_authorization(value: &str) -> Result<Authorization, ApiError> {
    let rest = value
        .strip_prefix(ALGORITHM)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| invalid_auth("Authorization must start with `TC3-HMAC-SHA256 `."))?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        let Some((k, v)) = part.split_once('=') else {
            return Err(invalid_auth("Authorization has a part without `=`."));
        };
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => return Err(invalid_auth("Authorization has an unknown part.")),
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(invalid_auth(
            "Authorization needs Credential, SignedHeaders and Signature.",
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [secret_id, date, service, terminator] = scope.as_slice() else {
        return Err(invalid_auth(
            "Credential must be SecretId/Date/Service/tc3_request.",
        ));
    };
    if *terminator != "tc3_request" || secret_id.is_empty() {
        return Err(invalid_auth(
            "Credential must be SecretId/Date/Service/tc3_request.",
        ));
    }
    let signed_headers: Vec<String> = signed.split(';').map(str::to_string).collect();
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid_auth("Signature must be 64 hex digits."));
    }
    Ok(Authorization {
        secret_id: (*secret_id).to_string(),
        date: (*date).to_string(),
        service: (*service).to_string(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
    })
}

/// The SecretId a request claims, for records (even when verification later fails).
pub fn claimed_secret_id(req: &Request) -> Option<String> {
    req.header("authorization")
        .and_then(|v| parse_authorization(v).ok())
        .map(|a| a.secret_id)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies the request's signature, timestamp and token against the keys `world` knows.
pub fn verify(req: &Request, world: &World, now_unix: i64) -> Result<Caller, ApiError> {
    let Some(header) = req.header("authorization") else {
        return Err(ApiError::new(
            "AuthFailure.SignatureFailure",
            "The request is not signed: the Authorization header is missing.",
        ));
    };
    let auth = parse_authorization(header)?;
    let timestamp: i64 = match req.header("x-tc-timestamp") {
        None => {
            return Err(ApiError::new(
                "MissingParameter",
                "The request is missing a required parameter `Timestamp`.",
            ));
        }
        Some(t) => t.parse().map_err(|_| {
            ApiError::new(
                "InvalidParameterValue",
                "The value of `X-TC-Timestamp` is not a decimal Unix time.",
            )
        })?,
    };
    if now_unix.abs_diff(timestamp) > MAX_SKEW_S.unsigned_abs() {
        return Err(ApiError::new(
            "AuthFailure.SignatureExpire",
            format!(
                "Signature expired. Timestamp date is {timestamp}, server date is {now_unix}; they may differ by at most {MAX_SKEW_S} s."
            ),
        ));
    }
    let (secret_key, temp) =
        if let Some(k) = world.keys.iter().find(|k| k.secret_id == auth.secret_id) {
            (k.secret_key.clone(), None)
        } else if let Some(c) = world
            .temp_creds
            .iter()
            .find(|c| c.secret_id == auth.secret_id)
        {
            (c.secret_key.clone(), Some(c))
        } else {
            return Err(ApiError::new(
                "AuthFailure.SecretIdNotFound",
                "The SecretId is not found, please ensure that your SecretId is correct.",
            ));
        };
    let names: Vec<String> = auth
        .signed_headers
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if !names.iter().any(|h| h == "content-type") || !names.iter().any(|h| h == "host") {
        return Err(invalid_auth(
            "SignedHeaders must include content-type and host.",
        ));
    }
    let mut extra: Vec<(&str, &str)> = Vec::new();
    for name in &names {
        let Some(value) = req.header(name) else {
            return Err(ApiError::new(
                "AuthFailure.SignatureFailure",
                format!("The signed header `{name}` is not in the request."),
            ));
        };
        if name != "content-type" && name != "host" {
            extra.push((name.as_str(), value));
        }
    }
    let input = SignInput {
        method: &req.method,
        host: req.header("host").unwrap_or(""),
        content_type: req.header("content-type").unwrap_or(""),
        body: &req.body,
        service: &auth.service,
        timestamp,
        extra_headers: &extra,
    };
    let expected = sign(&input, &auth.secret_id, &secret_key);
    let scope_ok = auth.service == "vpc" && auth.date == expected.date;
    let order_ok = expected.signed_headers == names.join(";");
    if !scope_ok
        || !order_ok
        || !constant_time_eq(expected.signature.as_bytes(), auth.signature.as_bytes())
    {
        return Err(ApiError::new(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. Please check your signature is correct.",
        ));
    }
    if let Some(c) = temp {
        let token = req.header("x-tc-token").unwrap_or("");
        if token.is_empty() {
            return Err(ApiError::new(
                "AuthFailure.TokenFailure",
                "The token is missing: temporary credentials need X-TC-Token.",
            ));
        }
        if !constant_time_eq(token.as_bytes(), c.token.as_bytes()) {
            return Err(ApiError::new(
                "AuthFailure.TokenFailure",
                "The token does not match the temporary credentials.",
            ));
        }
        if SystemTime::now() >= c.expires {
            return Err(ApiError::new(
                "AuthFailure.TokenFailure",
                "The token has expired.",
            ));
        }
        return Ok(Caller {
            secret_id: auth.secret_id,
            role: Some(c.role.clone()),
        });
    }
    Ok(Caller {
        secret_id: auth.secret_id,
        role: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_the_sdk_form() {
        let a = parse_authorization(
            "TC3-HMAC-SHA256 Credential=AKIDx/2019-02-25/vpc/tc3_request, SignedHeaders=content-type;host, Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c",
        )
        .unwrap();
        assert_eq!(a.secret_id, "AKIDx");
        assert_eq!(a.date, "2019-02-25");
        assert_eq!(a.service, "vpc");
        assert_eq!(a.signed_headers, vec!["content-type", "host"]);
        assert!(parse_authorization("Bearer x").is_err());
        assert!(
            parse_authorization(
                "TC3-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host, Signature=00"
            )
            .is_err()
        );
    }
}
