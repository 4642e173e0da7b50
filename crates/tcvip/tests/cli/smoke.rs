//! The harness itself: a node can ask the fake where the VIP is.

use std::time::Duration;

use crate::util::*;

#[test]
fn a_node_queries_the_fake() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(&fake, "ins-node0001", "");
    let run = node.run("vip-query", &[]);
    assert_eq!((run.code, run.stdout.trim()), (0, "true"), "{run:?}");
    assert_eq!(fake.calls_of("MigratePrivateIpAddress").len(), 0);
}
