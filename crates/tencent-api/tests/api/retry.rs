//! Retry classes and the retry helper.

use std::cell::Cell;
use std::time::{Duration, Instant};

use tencent_api::error::classify_code;
use tencent_api::retry::{Backoff, Jitter, RetryError, retry, retry_with};
use tencent_api::{ApiError, Error, RetryClass};

fn api(code: &str) -> Error {
    Error::Api(ApiError {
        code: code.into(),
        message: String::new(),
        request_id: String::new(),
        action: "MigratePrivateIpAddress".into(),
    })
}

#[test]
fn codes_follow_the_reference_table() {
    use RetryClass::*;
    let table = [
        ("RequestLimitExceeded", Backoff),
        ("RequestLimitExceeded.UinLimitExceeded", Backoff),
        ("RequestLimitExceeded.GlobalRegionUinLimitExceeded", Backoff),
        ("RequestLimitExceeded.IPLimitExceeded", Backoff),
        ("LimitExceeded.ActionLimited", Backoff),
        ("ServiceUnavailable", Backoff),
        ("ResourceUnavailable", Backoff),
        ("ResourceInUse", Backoff),
        ("UnsupportedOperation.MutexOperationTaskRunning", Backoff),
        ("OperationDenied.MutexTaskRunning", Backoff),
        ("FailedOperation.NetDetectTimeOut", Backoff),
        ("InternalError", AfterReread),
        ("InternalError.ModuleError", AfterReread),
        ("InternalServerError", AfterReread),
        ("AuthFailure.TokenFailure", RefreshCredentials),
        ("AuthFailure.SignatureExpire", RefreshCredentials),
        ("AuthFailure.SignatureFailure", Fatal),
        ("AuthFailure.SecretIdNotFound", Fatal),
        ("AuthFailure.UnauthorizedOperation", Fatal),
        ("UnauthorizedOperation", Fatal),
        ("UnauthorizedOperation.PrimaryIp", Fatal),
        ("UnauthorizedOperation.AttachmentNotFound", Fatal),
        ("InvalidParameter", Fatal),
        ("InvalidParameter.Coexist", Fatal),
        ("InvalidParameterValue.Malformed", Fatal),
        ("MissingParameter", Fatal),
        ("UnknownParameter", Fatal),
        ("UnsupportedRegion", Fatal),
        ("ResourceNotFound", Fatal),
        ("UnsupportedOperation.PrimaryIp", Fatal),
        ("LimitExceeded", Fatal),
        ("RequestLimitExceededSoon", Fatal),
        ("SomethingNew", Fatal),
    ];
    for (code, class) in table {
        assert_eq!(classify_code(code), class, "{code}");
        assert_eq!(api(code).retry_class(), class, "{code}");
    }
}

#[test]
fn retries_backoff_errors_until_success_showing_each_attempt() {
    let mut seen = Vec::new();
    let mut classified = Vec::new();
    let result = retry(
        Instant::now() + Duration::from_secs(30),
        Backoff::new(Duration::from_millis(1), Duration::from_millis(5)),
        |attempt| {
            seen.push(attempt);
            if attempt < 3 {
                Err(api("RequestLimitExceeded"))
            } else {
                Ok("done")
            }
        },
        |e, attempt| {
            classified.push(attempt);
            e.retry_class()
        },
    );
    assert_eq!(result.unwrap(), "done");
    assert_eq!(seen, [0, 1, 2, 3]);
    assert_eq!(classified, [0, 1, 2]);
}

#[test]
fn stops_at_once_on_anything_but_backoff() {
    for (code, class) in [
        ("InvalidParameter", RetryClass::Fatal),
        ("InternalError", RetryClass::AfterReread),
        ("AuthFailure.TokenFailure", RetryClass::RefreshCredentials),
    ] {
        let mut calls = 0;
        let e = retry::<(), _>(
            Instant::now() + Duration::from_secs(30),
            Backoff::default(),
            |_| {
                calls += 1;
                Err(api(code))
            },
            |e, _| e.retry_class(),
        )
        .unwrap_err();
        assert_eq!(calls, 1, "{code}");
        assert!(matches!(e, RetryError::Stopped { class: c, attempts: 1, .. } if c == class));
        assert_eq!(e.error().code(), Some(code));
        assert!(e.to_string().contains(code));
    }
}

#[test]
fn never_sleeps_past_the_deadline() {
    // Simulated time: sleeping advances the clock, nothing really waits.
    let start = Instant::now();
    let deadline = start + Duration::from_secs(10);
    let now = Cell::new(start);
    let mut slept = Duration::ZERO;
    let mut calls = 0u32;
    let e = retry_with::<(), _>(
        deadline,
        Backoff::new(Duration::from_millis(500), Duration::from_secs(4)),
        &mut Jitter::seeded(42),
        || now.get(),
        |d| {
            slept += d;
            now.set(now.get() + d);
        },
        |_| {
            calls += 1;
            now.set(now.get() + Duration::from_millis(100)); // each attempt takes time
            Err(api("ServiceUnavailable"))
        },
        |e, _| e.retry_class(),
    )
    .unwrap_err();
    assert!(matches!(e, RetryError::DeadlineExceeded { .. }), "{e:?}");
    assert_eq!(e.attempts(), calls);
    assert!(calls >= 3, "{calls}");
    assert!(
        now.get() < deadline,
        "the last sleep ended after the deadline"
    );
    assert!(slept < Duration::from_secs(10));
}

#[test]
fn real_time_retry_returns_by_the_deadline() {
    let started = Instant::now();
    let e = retry::<(), _>(
        started + Duration::from_millis(1000),
        Backoff::new(Duration::from_millis(20), Duration::from_millis(100)),
        |_| Err(api("RequestLimitExceeded")),
        |e, _| e.retry_class(),
    )
    .unwrap_err();
    assert!(matches!(e, RetryError::DeadlineExceeded { .. }));
    assert!(e.attempts() >= 2);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn transport_failures_back_off_and_config_errors_are_fatal() {
    let timeout = Error::Timeout {
        action: "A".into(),
        after: Duration::from_secs(1),
    };
    assert_eq!(timeout.retry_class(), RetryClass::Backoff);
    let http = Error::Http {
        action: "A".into(),
        status: 502,
        body_excerpt: String::new(),
    };
    assert_eq!(http.retry_class(), RetryClass::Backoff);
    let endpoint = Error::InvalidEndpoint {
        endpoint: "x".into(),
        reason: "y".into(),
    };
    assert_eq!(endpoint.retry_class(), RetryClass::Fatal);
}
