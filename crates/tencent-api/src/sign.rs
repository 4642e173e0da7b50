//! TC3-HMAC-SHA256, the Tencent Cloud API 3.0 request signature.
//!
//! Pure: the caller supplies the method, host, content type, body bytes, service, timestamp and
//! credentials; nothing here touches the network or the clock. Each stage (canonical request,
//! string to sign, signature, Authorization header) is exposed so that tests can pin it against
//! the published worked examples.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The algorithm name, first word of the Authorization header and of the string to sign.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";

/// What the official SDKs send and sign for POST JSON.
pub const DEFAULT_CONTENT_TYPE: &str = "application/json";

/// One request to sign. Borrowed, so that the bytes hashed are exactly the bytes sent.
#[derive(Debug, Clone, Copy)]
pub struct SignInput<'a> {
    /// `POST` for every call this project makes.
    pub method: &'a str,
    /// The Host header exactly as sent, with `:port` when the port is not the default.
    pub host: &'a str,
    /// The Content-Type header exactly as sent.
    pub content_type: &'a str,
    /// The request body, byte for byte.
    pub body: &'a [u8],
    /// Product name in the credential scope, e.g. `vpc`.
    pub service: &'a str,
    /// Unix seconds, the same value as `X-TC-Timestamp`.
    pub timestamp: i64,
    /// Headers signed besides `content-type` and `host`, as (name, value) pairs; e.g.
    /// `("x-tc-action", "DescribeInstances")`. Names and values are lower-cased and trimmed.
    pub extra_headers: &'a [(&'a str, &'a str)],
}

/// Every intermediate of one signature, so that each stage can be checked on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub canonical_request: String,
    pub signed_headers: String,
    pub date: String,
    pub credential_scope: String,
    pub string_to_sign: String,
    pub signature: String,
    pub authorization: String,
}

/// Signs `input` with `secret_id` / `secret_key`.
pub fn sign(input: &SignInput<'_>, secret_id: &str, secret_key: &str) -> Signed {
    let (canonical_request, signed_headers) = canonical_request(input);
    let date = utc_date(input.timestamp);
    let credential_scope = format!("{date}/{}/tc3_request", input.service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{credential_scope}\n{}",
        input.timestamp,
        sha256_hex(canonical_request.as_bytes())
    );
    let key = signing_key(secret_key, &date, input.service);
    let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={secret_id}/{credential_scope}, SignedHeaders={signed_headers}, Signature={signature}"
    );
    Signed {
        canonical_request,
        signed_headers,
        date,
        credential_scope,
        string_to_sign,
        signature,
        authorization,
    }
}

/// The canonical request and its SignedHeaders list.
pub fn canonical_request(input: &SignInput<'_>) -> (String, String) {
    let mut headers: Vec<(String, String)> = vec![
        (
            "content-type".into(),
            input.content_type.trim().to_ascii_lowercase(),
        ),
        ("host".into(), input.host.trim().to_ascii_lowercase()),
    ];
    for (name, value) in input.extra_headers {
        let name = name.trim().to_ascii_lowercase();
        if name == "content-type" || name == "host" {
            continue;
        }
        headers.push((name, value.trim().to_ascii_lowercase()));
    }
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical = format!(
        "{}\n/\n\n{canonical_headers}\n{signed_headers}\n{}",
        input.method,
        sha256_hex(input.body)
    );
    (canonical, signed_headers)
}

/// `SecretSigning`: HMAC chain over the date, the service and `tc3_request`.
pub fn signing_key(secret_key: &str, date: &str, service: &str) -> [u8; 32] {
    let secret_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let secret_service = hmac_sha256(&secret_date, service.as_bytes());
    hmac_sha256(&secret_service, b"tc3_request")
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// HMAC-SHA256 of `msg` under `key`.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// The UTC calendar date (`YYYY-MM-DD`) of a Unix timestamp.
pub fn utc_date(timestamp: i64) -> String {
    let (y, m, d) = civil_from_days(timestamp.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_date_changes_at_midnight_utc() {
        assert_eq!(utc_date(1_700_006_399), "2023-11-14");
        assert_eq!(utc_date(1_700_006_400), "2023-11-15");
        assert_eq!(utc_date(1_551_113_065), "2019-02-25");
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
    }

    #[test]
    fn current_revision_worked_example() {
        let body = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        let input = SignInput {
            method: "POST",
            host: "cvm.tencentcloudapi.com",
            content_type: "application/json; charset=utf-8",
            body,
            service: "cvm",
            timestamp: 1_551_113_065,
            extra_headers: &[("X-TC-Action", "DescribeInstances")],
        };
        let key = "*".repeat(32);
        let id = format!("AKID{}", "*".repeat(32));
        let s = sign(&input, &id, &key);
        assert_eq!(
            s.signature,
            "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"
        );
    }
}
