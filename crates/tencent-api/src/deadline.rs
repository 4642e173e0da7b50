//! A hard deadline around a blocking HTTP exchange.
//!
//! reqwest's blocking `timeout` covers the reply's headers, and then each read of the body on its
//! own: a server that trickles its body a byte at a time keeps a call alive far past the
//! timeout. The whole exchange therefore runs on a worker thread that the caller stops waiting
//! for at the deadline; the worker ends at its own next timeout, and owns nothing the caller
//! still needs.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Runs `exchange` on a worker and waits for it at most `limit`; `None` when it did not finish
/// in time, or when no worker could be started.
pub(crate) fn within<T: Send + 'static>(
    limit: Duration,
    exchange: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::sync_channel(1);
    let job = move || {
        let _ = tx.send(exchange());
    };
    match thread::Builder::new().name("http".into()).spawn(job) {
        Ok(_) => rx.recv_timeout(limit).ok(),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_quick_exchange_returns_its_value() {
        assert_eq!(within(Duration::from_secs(5), || 7), Some(7));
    }

    #[test]
    fn a_slow_exchange_is_given_up_at_the_limit() {
        let started = Instant::now();
        let out = within(Duration::from_millis(100), || {
            thread::sleep(Duration::from_secs(5));
            1
        });
        assert_eq!(out, None);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
