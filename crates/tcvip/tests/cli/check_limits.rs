//! check-self's limits: service checks with their timeouts, an answer before
//! `check.deadline_ms` whatever the cloud does, and nothing done while nothing is recorded.
//! Helpers in [`crate::check`].

use std::thread;
use std::time::Duration;

use fake_vpc::{Fault, FaultSpec};
use vip_state::KeepalivedState;

use crate::check::*;
use crate::netns::Netns;
use crate::util::*;

// ---------------------------------------------------------------------------------------------
// 20: service checks, and the deadline

#[test]
fn a_failing_service_check_fails_the_check() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(
        &fake,
        "ins-node0001",
        "[check]\nservice_checks = [ { argv = [\"true\"], timeout_ms = 1000 }, \
         { argv = [\"false\"], timeout_ms = 1000 } ]\n",
    );
    let run = node.run("check-self", &[]);
    assert_eq!(run.code, 1, "{run:?}");
    let record = node.state().read_check().value.unwrap();
    assert!(record.reason.contains("false"), "{record:?}");

    let ok = Node::new(
        &fake,
        "ins-node0001",
        "[check]\nservice_checks = [ { argv = [\"true\"], timeout_ms = 1000 } ]\n",
    );
    assert_eq!(ok.run("check-self", &[]).code, 0);

    let missing = Node::new(
        &fake,
        "ins-node0001",
        "[check]\nservice_checks = [ { argv = [\"/nonexistent/tcvip-check\"], timeout_ms = 1000 } ]\n",
    );
    assert_eq!(missing.run("check-self", &[]).code, 1);
}

#[test]
fn a_hanging_service_check_is_killed_at_its_timeout() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    // A distinctive duration, to find the process again.
    let arg = "31.4159";
    let node = Node::new(
        &fake,
        "ins-node0001",
        &format!(
            "[check]\ndeadline_ms = 5000\nservice_checks = [ {{ argv = [\"sleep\", \"{arg}\"], timeout_ms = 300 }} ]\n"
        ),
    );
    let run = node.run("check-self", &[]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.elapsed >= Duration::from_millis(300),
        "did not wait for the check: {run:?}"
    );
    assert!(
        run.elapsed < Duration::from_millis(300) + Duration::from_millis(2500),
        "{run:?}"
    );
    let record = node.state().read_check().value.unwrap();
    assert!(record.reason.contains("sleep"), "{record:?}");
    assert!(
        wait_for(Duration::from_secs(5), || sleeps(arg).is_empty()),
        "the hanging check outlived check-self: {:?}",
        sleeps(arg)
    );
}

#[test]
fn check_self_returns_before_its_deadline_whatever_the_cloud_does() {
    let fake = start(&loopback_topology(LO_PEER), Duration::ZERO);
    let deadline_ms = 800u64;
    let margin = Duration::from_secs(5);
    for (policy, service, code) in [
        ("", "", 0),
        ("on_cloud_error = \"fail\"\n", "", 1),
        // A healthy service still passes when the cloud is slow.
        (
            "",
            "service_checks = [ { argv = [\"true\"], timeout_ms = 500 } ]\n",
            0,
        ),
    ] {
        let node = Node::new(
            &fake,
            "ins-lo000001",
            &lo_vip(&format!(
                "[check]\ndeadline_ms = {deadline_ms}\ncloud_ttl_s = 1\n{policy}{service}"
            )),
        );
        node.record("default", KeepalivedState::Master);
        // Slow metadata and a slow API: discovery and the lookup both hang.
        for action in [None, Some("metadata".to_owned())] {
            fake.inject(FaultSpec {
                action,
                count: 1000,
                fault: Fault::Delay(Duration::from_secs(20)),
            });
        }
        let run = node.run("check-self", &[]);
        fake.clear_faults();
        assert_eq!(run.code, code, "{policy:?} {service:?}: {run:?}");
        let log = node.log_text();
        // By its own clock (from start to exit code) check-self kept its deadline…
        let own = log
            .lines()
            .filter(|l| l.contains("event=check_done"))
            .filter_map(|l| {
                l.split("elapsed_ms=")
                    .nth(1)?
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .next_back();
        let own: u64 = own.unwrap_or_else(|| panic!("no check_done event: {log}"));
        // (With 100 ms for a loaded scheduler; waiting for the 1 s metadata timeout or the 2 s
        // request timeout would show.)
        assert!(own < deadline_ms + 100, "check-self took {own} ms: {log}");
        // …and from outside (process start and exit included, on a loaded machine) it was
        // nowhere near the 20 s the cloud would have taken.
        assert!(
            run.elapsed < Duration::from_millis(deadline_ms) + margin,
            "check-self overran check.deadline_ms = {deadline_ms} ({policy:?} {service:?}): \
             {run:?}\n{log}"
        );
        assert!(log.contains("cloud_unknown"), "{log}");
        assert!(detached_of(&node).is_empty());
    }
    assert!(writes(&fake).is_empty());
}

// ---------------------------------------------------------------------------------------------
// 21: keepalived just started

#[test]
fn nothing_recorded_yet_does_nothing() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    // The VIP is held by the peer; a node that knows nothing of keepalived yet must not act.
    let node = Node::new(&fake, "ins-node0002", "");
    for _ in 0..2 {
        let run = node.run("check-self", &[]);
        assert_eq!(run.code, 0, "{run:?}");
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert!(detached_of(&node).is_empty());
    let record = node.state().read_check().value.unwrap();
    assert!(record.reason.contains("no keepalived state"), "{record:?}");
}

#[test]
fn nothing_recorded_yet_leaves_the_nic_alone() {
    let ns = Netns::create();
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = netns_node(&fake, "");
    ns.add("198.18.1.100/32");
    for _ in 0..2 {
        let run = ns.run(&node, "check-self", &[]);
        assert_eq!(run.code, 0, "{run:?}");
        thread::sleep(Duration::from_millis(600));
    }
    assert!(ns.has(VIP), "{}", node.log_text());

    // Nor does it put a missing VIP on the NIC.
    let empty = Netns::create();
    let run = empty.run(&node, "check-self", &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!empty.has(VIP));
}
