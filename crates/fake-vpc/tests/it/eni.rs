use std::time::Duration;

use fake_vpc::{IpState, Options};

use crate::util::*;

#[test]
fn migrate_reads_migrating_then_lands_after_lag() {
    let h = start(Options {
        lag: Duration::from_millis(400),
        ..Options::default()
    });
    let r = migrate(&h, "eni-node0001", "eni-node0002", "198.18.1.100");
    assert_ok(&r);
    let task = r["RequestId"].as_str().unwrap().to_string();
    assert_eq!(h.holder_of(VIP).as_deref(), Some("eni-node0001"));
    assert_eq!(h.ip_state(VIP), Some(IpState::Migrating));
    assert_eq!(task_status(&h, &task), "RUNNING");
    assert!(eventually(
        || h.holder_of(VIP).as_deref() == Some("eni-node0002")
    ));
    assert_eq!(h.ip_state(VIP), Some(IpState::Available));
    assert_eq!(task_status(&h, &task), "SUCCESS");
}
