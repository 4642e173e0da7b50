//! The data-plane hook (`--on-change CMD ARGS...`): run as argv (never through a shell) with
//! three more arguments — the IP, its new holder ENI (`none` when released) and the primary IP
//! of that ENI's instance (`none` when it has none) — each time an IP lands.
//!
//! Runs are sequential, in landing order, on one thread, so a quick A→B→A flap reaches the data
//! plane in the right order. Each run is reaped; one that outlives the timeout is killed.

use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

use crate::world::Landing;

/// The word passed for a missing holder or instance IP.
pub const NONE: &str = "none";

#[derive(Debug)]
pub(crate) struct Hook {
    tx: Mutex<Option<Sender<Vec<String>>>>,
}

impl Hook {
    /// Starts the runner thread for `argv` (non-empty).
    pub fn start(argv: Vec<String>, timeout: Duration) -> std::io::Result<Hook> {
        let (tx, rx) = mpsc::channel::<Vec<String>>();
        std::thread::Builder::new()
            .name("fake-vpc-hook".into())
            .spawn(move || {
                for extra in rx {
                    run(&argv, &extra, timeout);
                }
            })?;
        Ok(Hook {
            tx: Mutex::new(Some(tx)),
        })
    }

    /// Queues one run for `landing`.
    pub fn fire(&self, landing: &Landing) {
        let args = vec![
            landing.ip.to_string(),
            landing.eni.clone().unwrap_or_else(|| NONE.to_string()),
            landing
                .instance_primary_ip
                .map(|i| i.to_string())
                .unwrap_or_else(|| NONE.to_string()),
        ];
        if let Ok(guard) = self.tx.lock()
            && let Some(tx) = guard.as_ref()
        {
            let _ = tx.send(args);
        }
    }

    /// Stops queueing; the runner finishes the run in progress and exits.
    pub fn close(&self) {
        if let Ok(mut guard) = self.tx.lock() {
            guard.take();
        }
    }
}

fn run(argv: &[String], extra: &[String], timeout: Duration) {
    let Some((program, args)) = argv.split_first() else {
        return;
    };
    let stdout = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null());
    let child = Command::new(program)
        .args(args)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(stdout)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fake-vpc: on-change hook {program:?} could not start: {e}");
            return;
        }
    };
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                if !status.success() {
                    eprintln!(
                        "fake-vpc: on-change hook {program:?} {extra:?} exited with {status}"
                    );
                }
                return;
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                eprintln!("fake-vpc: on-change hook {program:?} {extra:?} timed out; killing it");
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
        }
    }
}
