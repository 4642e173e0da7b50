//! One exchange on the wire and what its reply means: the request sent and the body read
//! under a limit, then a 200 body turned into the `Response` object or a typed error.

use std::io::Read;
use std::time::Duration;

use serde_json::Value;

use crate::error::{ApiError, Error};
use crate::error_chain::chain;

/// Longest body excerpt kept in [`Error::Http`].
const EXCERPT_CHARS: usize = 200;

/// One request and its reply, run on a worker under [`crate::deadline::within`].
pub(super) struct Exchange {
    pub(super) action: String,
    pub(super) endpoint: String,
    pub(super) timeout: Duration,
    pub(super) limit: usize,
}

/// At most this much of a non-200 reply is read, for the error's excerpt.
const ERROR_EXCERPT_BYTES: u64 = 1024;

impl Exchange {
    pub(super) fn run(
        self,
        req: reqwest::blocking::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), Error> {
        let resp = req.send().map_err(|e| self.send_error(&e))?;
        let status = resp.status().as_u16();
        if status != 200 {
            // A proxy's error page may be large: the status is what counts (and is retryable).
            let mut head = Vec::new();
            let _ = resp.take(ERROR_EXCERPT_BYTES).read_to_end(&mut head);
            return Ok((status, head));
        }
        Ok((status, self.read_body(resp)?))
    }

    fn read_body(&self, resp: reqwest::blocking::Response) -> Result<Vec<u8>, Error> {
        let action = self.action.as_str();
        let limit = self.limit;
        let too_large = || Error::BodyTooLarge {
            action: action.to_owned(),
            limit,
        };
        if resp.content_length().is_some_and(|len| len > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        resp.take(limit as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| {
                let timed_out = e.kind() == std::io::ErrorKind::TimedOut
                    || e.get_ref()
                        .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
                        .is_some_and(reqwest::Error::is_timeout);
                if timed_out {
                    Error::Timeout {
                        action: action.to_owned(),
                        after: self.timeout,
                    }
                } else {
                    Error::Transport {
                        action: action.to_owned(),
                        detail: format!("reply body incomplete: {}", chain(&e)),
                    }
                }
            })?;
        if body.len() > limit {
            return Err(too_large());
        }
        Ok(body)
    }

    fn send_error(&self, e: &reqwest::Error) -> Error {
        let action = self.action.clone();
        if e.is_timeout() {
            Error::Timeout {
                action,
                after: self.timeout,
            }
        } else if e.is_connect() {
            Error::Connect {
                action,
                endpoint: self.endpoint.clone(),
                detail: with_tls_hint(chain(e)),
            }
        } else {
            Error::Transport {
                action,
                detail: chain(e),
            }
        }
    }
}

/// A certificate that does not verify gets the fix named: trust the CA that signed it.
fn with_tls_hint(detail: String) -> String {
    let lower = detail.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") {
        format!(
            "{detail} (the endpoint's TLS certificate is not trusted; if it is signed by a \
             private CA, e.g. a TLS-inspecting proxy's, name that CA's PEM file in cloud.ca_file)"
        )
    } else {
        detail
    }
}

/// Turns a 200 reply body into the `Response` object or a typed error.
pub(super) fn parse_reply(action: &str, body: &[u8]) -> Result<Value, Error> {
    let decode = |detail: String| Error::Decode {
        action: action.to_owned(),
        detail,
    };
    let mut v: Value = serde_json::from_slice(body).map_err(|e| {
        decode(format!(
            "reply is not JSON ({e}); it starts {:?}",
            excerpt(body)
        ))
    })?;
    let Some(response) = v.get_mut("Response").map(Value::take) else {
        return Err(decode("reply has no Response object".into()));
    };
    if !response.is_object() {
        return Err(decode("Response is not an object".into()));
    }
    match response.get("Error") {
        None | Some(Value::Null) => Ok(response),
        Some(err) => {
            let Some(code) = err.get("Code").and_then(Value::as_str) else {
                return Err(decode("Response.Error has no Code".into()));
            };
            Err(Error::Api(ApiError {
                code: code.to_owned(),
                message: err
                    .get("Message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                request_id: response
                    .get("RequestId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                action: action.to_owned(),
            }))
        }
    }
}

/// The first characters of a body, lossily decoded, control characters escaped.
pub(super) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_CHARS * 4)]);
    let mut out: String = text.chars().take(EXCERPT_CHARS).collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn reply_parsing_distinguishes_success_api_error_and_garbage() {
        let ok = parse_reply("A", br#"{"Response":{"RequestId":"r1","X":1}}"#).unwrap();
        assert_eq!(ok["X"], 1);
        let err = parse_reply(
            "A",
            br#"{"Response":{"Error":{"Code":"InvalidParameter","Message":"bad"},"RequestId":"r2"}}"#,
        )
        .unwrap_err();
        let api = err.api().unwrap();
        assert_eq!(
            (
                api.code.as_str(),
                api.message.as_str(),
                api.request_id.as_str()
            ),
            ("InvalidParameter", "bad", "r2")
        );
        for garbage in [
            &b"<html>"[..],
            b"{}",
            br#"{"Response":3}"#,
            br#"{"Response":{"Error":{}}}"#,
        ] {
            assert!(matches!(
                parse_reply("A", garbage),
                Err(Error::Decode { .. })
            ));
        }
        assert!(parse_reply("A", br#"{"Response":{"Error":null,"RequestId":"r"}}"#).is_ok());
    }

    #[test]
    fn excerpts_are_bounded() {
        let long = vec![b'x'; 10_000];
        assert!(excerpt(&long).chars().count() <= EXCERPT_CHARS + 1);
    }
}
