//! The retry engine's rules, each on a manual clock: no test here sleeps.

use std::cell::RefCell;
use std::time::Duration;

use tencent_api::retry::{
    Backoff, Classification, Decision, GiveUp, Jitter, ManualTimer, Policy, Retry, Timer,
};
use tencent_api::{ApiError, Error, RetryClass};

const MS: Duration = Duration::from_millis(1);

fn api(code: &str) -> Error {
    Error::Api(ApiError {
        code: code.into(),
        message: String::new(),
        request_id: String::new(),
        action: "DescribeNetworkInterfaces".into(),
    })
}

/// 100 ms doubling to 800 ms; throttling 1 s to 4 s.
fn policy() -> Policy {
    Policy::new(Backoff::new(100 * MS, 800 * MS))
        .throttled(Backoff::new(Duration::from_secs(1), Duration::from_secs(4)))
}

fn engine(t: &ManualTimer, deadline: Duration, policy: Policy) -> Retry {
    Retry::new(t.now() + deadline, policy).with_jitter(Jitter::seeded(7))
}

fn next(d: Decision) -> tencent_api::retry::Next {
    match d {
        Decision::Retry(n) => n,
        Decision::GiveUp(g) => panic!("gave up: {g}"),
    }
}

#[test]
fn attempts_are_numbered_from_one() {
    let t = ManualTimer::new();
    let mut r = engine(&t, Duration::from_secs(60), policy());
    assert_eq!(r.attempts(), 0);
    assert_eq!(r.start(t.now()).unwrap().number, 1);
    let n = next(r.failed(t.now(), Classification::transient()));
    assert_eq!(n.attempt, 2);
    t.advance(n.wait);
    let a = r.start(t.now()).unwrap();
    assert_eq!((a.number, a.deadline), (2, r.deadline()));
    assert_eq!(r.attempts(), 2);
}

#[test]
fn no_attempt_starts_once_the_deadline_has_passed() {
    let t = ManualTimer::new();
    let mut r = engine(&t, Duration::from_secs(1), policy());
    t.advance(Duration::from_secs(1));
    assert_eq!(r.start(t.now()), Err(GiveUp::Deadline));
    assert_eq!(r.attempts(), 0);
}

#[test]
fn fatal_failures_are_never_retried() {
    let t = ManualTimer::new();
    let mut r = engine(&t, Duration::from_secs(60), policy());
    r.start(t.now()).unwrap();
    let how = Classification::from(&api("InvalidParameter"));
    assert_eq!(
        r.failed(t.now(), how),
        Decision::GiveUp(GiveUp::NotRetryable(RetryClass::Fatal))
    );
}

#[test]
fn waits_grow_within_the_doubling_ceilings_and_reset_after_a_success() {
    let t = ManualTimer::new();
    let mut r = engine(&t, Duration::from_secs(600), policy());
    let mut waits = Vec::new();
    for _ in 0..6 {
        r.start(t.now()).unwrap();
        let n = next(r.failed(t.now(), Classification::transient()));
        t.advance(n.wait);
        waits.push(n.wait);
    }
    let ceilings = [100, 200, 400, 800, 800, 800];
    for (w, c) in waits.iter().zip(ceilings) {
        assert!(*w <= c * MS, "{waits:?}");
    }
    assert!(waits.iter().any(|w| *w != waits[0]), "no jitter: {waits:?}");
    // A success puts the next wait back under the base.
    r.start(t.now()).unwrap();
    r.succeeded();
    r.start(t.now()).unwrap();
    let n = next(r.failed(t.now(), Classification::transient()));
    assert!(n.wait <= 100 * MS, "{n:?}");
}

#[test]
fn the_same_seed_gives_the_same_waits() {
    let run = || {
        let t = ManualTimer::new();
        let mut r = engine(&t, Duration::from_secs(600), policy());
        (0..5)
            .map(|_| {
                r.start(t.now()).unwrap();
                next(r.failed(t.now(), Classification::transient())).wait
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn throttling_waits_at_least_the_throttling_base() {
    let t = ManualTimer::new();
    let mut r = engine(&t, Duration::from_secs(600), policy());
    for _ in 0..5 {
        r.start(t.now()).unwrap();
        let how = Classification::from(&api("RequestLimitExceeded.UinLimitExceeded"));
        assert!(how.throttled);
        let n = next(r.failed(t.now(), how));
        assert!(
            (Duration::from_secs(1)..=Duration::from_secs(4)).contains(&n.wait),
            "{n:?}"
        );
        t.advance(n.wait);
    }
}

#[test]
fn a_wait_that_would_end_at_the_deadline_is_not_taken() {
    let t = ManualTimer::new();
    // Throttling waits at least 1 s; 900 ms are left.
    let mut r = engine(&t, 900 * MS, policy());
    r.start(t.now()).unwrap();
    assert_eq!(
        r.failed(t.now(), Classification::throttling()),
        Decision::GiveUp(GiveUp::Deadline)
    );
}

#[test]
fn an_attempt_needs_the_minimum_time_left() {
    let t = ManualTimer::new();
    let mut r = engine(
        &t,
        Duration::from_secs(1),
        policy().min_attempt(Duration::from_secs(1)),
    );
    // The first attempt is made whatever the minimum.
    r.start(t.now()).unwrap();
    assert_eq!(
        r.failed(t.now(), Classification::transient()),
        Decision::GiveUp(GiveUp::Deadline)
    );
}

#[test]
fn credentials_are_refreshed_once_without_waiting() {
    let t = ManualTimer::new();
    let mut r = engine(&t, Duration::from_secs(60), policy());
    r.start(t.now()).unwrap();
    let how = Classification::from(&api("AuthFailure.TokenFailure"));
    let n = next(r.failed(t.now(), how));
    assert!(n.refresh_credentials && !n.reread_first);
    assert_eq!(n.wait, Duration::ZERO);
    r.start(t.now()).unwrap();
    assert_eq!(
        r.failed(t.now(), how),
        Decision::GiveUp(GiveUp::AlreadyRefreshed)
    );
}

#[test]
fn an_unknown_outcome_is_retried_after_a_reread_unless_the_policy_says_not() {
    let t = ManualTimer::new();
    let how = Classification::from(&api("InternalError"));
    let mut r = engine(&t, Duration::from_secs(60), policy());
    r.start(t.now()).unwrap();
    assert!(next(r.failed(t.now(), how)).reread_first);
    let mut r = engine(&t, Duration::from_secs(60), policy().backoff_only());
    r.start(t.now()).unwrap();
    assert_eq!(
        r.failed(t.now(), how),
        Decision::GiveUp(GiveUp::NotRetryable(RetryClass::AfterReread))
    );
}

#[test]
fn the_attempt_count_bounds_the_run() {
    let t = ManualTimer::new();
    let mut r = engine(&t, Duration::from_secs(60), policy().max_attempts(2));
    r.start(t.now()).unwrap();
    next(r.failed(t.now(), Classification::transient()));
    r.start(t.now()).unwrap();
    assert_eq!(
        r.failed(t.now(), Classification::transient()),
        Decision::GiveUp(GiveUp::Attempts(2))
    );
    assert_eq!(r.start(t.now()), Err(GiveUp::Attempts(2)));
}

#[test]
fn run_counts_attempts_and_sleeps_only_the_decided_waits() {
    let t = ManualTimer::new();
    let mut r = engine(&t, Duration::from_secs(60), policy());
    let seen = RefCell::new(Vec::new());
    let failed = RefCell::new(Vec::new());
    let out = r.run(
        &t,
        |a| {
            seen.borrow_mut().push(a.number);
            if a.number < 3 {
                Err(api("ServiceUnavailable"))
            } else {
                Ok("done")
            }
        },
        |e: &Error| Classification::from(e),
        |_, a, d| failed.borrow_mut().push((a.number, *d)),
    );
    assert_eq!(out.unwrap(), "done");
    assert_eq!(*seen.borrow(), [1, 2, 3]);
    let failed = failed.into_inner();
    assert_eq!(failed.iter().map(|f| f.0).collect::<Vec<_>>(), [1, 2]);
    let waits: Vec<Duration> = failed
        .iter()
        .map(|(_, d)| next(*d).wait)
        .filter(|w| !w.is_zero())
        .collect();
    assert_eq!(t.sleeps(), waits);
}

#[test]
fn run_ends_by_the_deadline_with_the_last_error() {
    let t = ManualTimer::new();
    let deadline = Duration::from_secs(3);
    let mut r = engine(&t, deadline, policy());
    let err = r
        .run::<(), _>(
            &t,
            |_| {
                // Each attempt takes 900 ms, as a slow service would.
                t.advance(900 * MS);
                Err(api("ServiceUnavailable"))
            },
            |e: &Error| Classification::from(e),
            |_, _, _| {},
        )
        .unwrap_err();
    assert_eq!(err.reason, GiveUp::Deadline);
    assert!(err.attempts >= 2, "{err}");
    assert_eq!(
        err.error.as_ref().and_then(Error::code),
        Some("ServiceUnavailable")
    );
    assert!(t.elapsed() <= deadline, "{:?}", t.elapsed());
    assert!(err.to_string().contains("ServiceUnavailable"), "{err}");
}

#[test]
fn run_past_the_deadline_makes_no_attempt() {
    let t = ManualTimer::new();
    let mut r = engine(&t, Duration::ZERO, policy());
    let err = r
        .run::<(), Error>(
            &t,
            |_| panic!("attempted"),
            |e: &Error| Classification::from(e),
            |_, _, _| {},
        )
        .unwrap_err();
    assert_eq!((err.reason, err.attempts), (GiveUp::Deadline, 0));
    assert!(err.error.is_none());
}

#[test]
fn metadata_failures_classify_by_transience() {
    use tencent_api::metadata::MetadataError;
    let slow = MetadataError::Timeout {
        url: "u".into(),
        after: Duration::from_secs(1),
    };
    assert_eq!(Classification::from(&slow), Classification::transient());
    let missing = MetadataError::NotFound { url: "u".into() };
    assert_eq!(Classification::from(&missing), Classification::fatal());
    let throttled = MetadataError::Http {
        url: "u".into(),
        status: 429,
    };
    assert_eq!(
        Classification::from(&throttled),
        Classification::throttling()
    );
}
