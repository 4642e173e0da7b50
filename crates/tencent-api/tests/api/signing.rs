//! Every signing stage against the published worked examples (tests/vectors/).

use std::collections::HashMap;

use tencent_api::sign::{
    SignInput, canonical_request, hmac_sha256, sha256_hex, sign, signing_key, utc_date,
};

struct Vector(HashMap<String, String>);

impl Vector {
    fn parse(text: &str) -> Vector {
        let mut map = HashMap::new();
        let mut name: Option<String> = None;
        let mut value: Vec<&str> = Vec::new();
        for line in text.lines() {
            if let Some(n) = line.strip_prefix("--- ") {
                if let Some(prev) = name.take() {
                    map.insert(prev, value.join("\n"));
                }
                name = Some(n.trim().to_owned());
                value.clear();
            } else if name.is_some() {
                value.push(line);
            }
        }
        if let Some(prev) = name {
            map.insert(prev, value.join("\n"));
        }
        Vector(map)
    }

    fn get(&self, k: &str) -> &str {
        self.0.get(k).unwrap_or_else(|| panic!("vector lacks {k}"))
    }

    fn opt(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    fn extra_headers(&self) -> Vec<(&str, &str)> {
        self.get("extra_headers")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap();
                (k.trim(), v.trim())
            })
            .collect()
    }

    fn check(&self) {
        let extra = self.extra_headers();
        let input = SignInput {
            method: self.get("method"),
            host: self.get("host"),
            content_type: self.get("content_type"),
            body: self.get("payload").as_bytes(),
            service: self.get("service"),
            timestamp: self.get("timestamp").parse().unwrap(),
            extra_headers: &extra,
        };
        assert_eq!(
            sha256_hex(input.body),
            self.get("hashed_payload"),
            "payload hash"
        );
        assert_eq!(utc_date(input.timestamp), self.get("date"), "date");

        let (canonical, signed_headers) = canonical_request(&input);
        assert_eq!(signed_headers, self.get("signed_headers"), "signed headers");
        if let Some(expected) = self.opt("canonical_request") {
            assert_eq!(canonical, expected, "canonical request");
        }
        if let Some(expected) = self.opt("canonical_request_hash") {
            assert_eq!(
                sha256_hex(canonical.as_bytes()),
                expected,
                "canonical request hash"
            );
        }

        let key = self.get("secret_key");
        let date = self.get("date");
        let service = self.get("service");
        let secret_date = hmac_sha256(format!("TC3{key}").as_bytes(), date.as_bytes());
        let secret_service = hmac_sha256(&secret_date, service.as_bytes());
        let secret_signing = hmac_sha256(&secret_service, b"tc3_request");
        for (name, got) in [
            ("secret_date", secret_date),
            ("secret_service", secret_service),
            ("secret_signing", secret_signing),
        ] {
            if let Some(expected) = self.opt(name) {
                assert_eq!(hex::encode(got), expected, "{name}");
            }
        }
        assert_eq!(
            signing_key(key, date, service),
            secret_signing,
            "signing_key()"
        );

        let signed = sign(&input, self.get("secret_id"), key);
        assert_eq!(signed.canonical_request, canonical);
        if let Some(expected) = self.opt("string_to_sign") {
            assert_eq!(signed.string_to_sign, expected, "string to sign");
        }
        assert_eq!(
            signed.credential_scope,
            format!("{date}/{service}/tc3_request")
        );
        assert_eq!(signed.signature, self.get("signature"), "signature");
        assert_eq!(
            signed.authorization,
            self.get("authorization"),
            "authorization"
        );
    }
}

#[test]
fn current_revision_every_stage() {
    let v = Vector::parse(include_str!("../vectors/current-revision.txt"));
    assert!(v.opt("string_to_sign").is_some() && v.opt("secret_signing").is_some());
    v.check();
}

#[test]
fn previous_revision_as_the_sdks_sign() {
    let v = Vector::parse(include_str!("../vectors/previous-revision.txt"));
    assert_eq!(v.get("signed_headers"), "content-type;host");
    v.check();
}

#[test]
fn loopback_host_keeps_its_port() {
    let v = Vector::parse(include_str!("../vectors/loopback-port.txt"));
    assert!(
        v.get("canonical_request")
            .contains("host:127.0.0.1:18080\n")
    );
    v.check();
}

#[test]
fn signature_depends_on_host_port_and_body_bytes() {
    let body = br#"{"A":1}"#;
    let base = SignInput {
        method: "POST",
        host: "127.0.0.1:18080",
        content_type: "application/json",
        body,
        service: "vpc",
        timestamp: 1_700_000_000,
        extra_headers: &[],
    };
    let s0 = sign(&base, "AKID", "k").signature;
    let other_port = SignInput {
        host: "127.0.0.1:18081",
        ..base
    };
    assert_ne!(sign(&other_port, "AKID", "k").signature, s0);
    let spaced = SignInput {
        body: br#"{"A": 1}"#,
        ..base
    };
    assert_ne!(sign(&spaced, "AKID", "k").signature, s0);
    let next_day = SignInput {
        timestamp: 1_700_000_000 + 86_400,
        ..base
    };
    assert_ne!(sign(&next_day, "AKID", "k").signature, s0);
}
