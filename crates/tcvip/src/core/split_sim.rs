//! A split brain on a manual clock: two or three nodes that are all MASTER for five minutes and
//! cannot hear each other, each running check-self every 2 s (the core's rules, a 30 s view
//! TTL, a 10 s first cooldown) and the vip-migrate it starts (a 2 s landing lag), against one
//! cloud. It counts the moves each node makes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::time::Duration;

use vip_state::{CloudView, ReconcileRecord};

use super::check::{LockSeen, MasterFacts, MasterStep, master_step, view_usable};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 100);
const TICK: u64 = 100;
const INTERVAL: u64 = 2_000;
const TTL: Duration = Duration::from_secs(30);
const BASE: Duration = Duration::from_secs(10);
const SPLIT: u64 = 300_000;

struct Node {
    eni: String,
    phase: u64,
    view: Option<CloudView>,
    record: Option<ReconcileRecord>,
    /// A vip-migrate of this node is running.
    migrating: bool,
    /// Whether that vip-migrate is a reconcile (started by check-self).
    reconciling: bool,
    /// The moves made (ms), and of them those made by a reconcile.
    moves: Vec<u64>,
    reconciles: Vec<u64>,
}

struct Cloud {
    holder: usize,
    /// A move in flight: (to, lands at).
    in_flight: Option<(usize, u64)>,
}

struct Sim {
    nodes: Vec<Node>,
    cloud: Cloud,
    now: u64,
    lag: u64,
}

impl Sim {
    /// `n` nodes whose check-self runs are `step` ms apart, moves landing after `lag` ms. At
    /// the split each node becomes MASTER and its notification starts a vip-migrate.
    fn new(n: usize, step: u64, lag: u64) -> Sim {
        Sim {
            nodes: (0..n)
                .map(|i| Node {
                    eni: format!("eni-{i}"),
                    phase: 100 + step * i as u64,
                    view: None,
                    record: None,
                    migrating: true,
                    reconciling: false,
                    moves: Vec::new(),
                    reconciles: Vec::new(),
                })
                .collect(),
            lag,
            cloud: Cloud {
                holder: 0,
                in_flight: None,
            },
            now: 0,
        }
    }

    /// DescribeNetworkInterfaces, as a cached view learned now.
    fn lookup(&self) -> CloudView {
        CloudView {
            vip: VIP,
            holder_eni: Some(self.nodes[self.cloud.holder].eni.clone()),
            holder_instance: None,
            ip_state: Some(
                if self.cloud.in_flight.is_some() {
                    "MIGRATING"
                } else {
                    "AVAILABLE"
                }
                .to_owned(),
            ),
            learned_at_ms: self.now,
        }
    }

    /// One tick of node `i`'s vip-migrate: wait for a change in flight, done when here (the
    /// view it stores says so), else one Migrate.
    fn migrate_tick(&mut self, i: usize) {
        if self.cloud.in_flight.is_some() {
            return;
        }
        if self.cloud.holder == i {
            let view = self.lookup();
            let node = &mut self.nodes[i];
            node.view = Some(view);
            node.migrating = false;
            return;
        }
        self.cloud.in_flight = Some((i, self.now + self.lag));
        let node = &mut self.nodes[i];
        node.moves.push(self.now);
        if node.reconciling {
            node.reconciles.push(self.now);
        }
    }

    /// One run of node `i`'s check-self.
    fn check(&mut self, i: usize) {
        let now = self.now;
        let migrating = self.nodes[i].migrating;
        let cached = self.nodes[i]
            .view
            .clone()
            .filter(|v| view_usable(v, TTL, || migrating, now));
        let (mut view, mut fresh) = match cached {
            Some(v) => (v, false),
            None => (self.lookup(), true),
        };
        loop {
            let node = &self.nodes[i];
            let step = master_step(&MasterFacts {
                me: &node.eni,
                view: &view,
                fresh,
                record: node.record.as_ref(),
                lock: if migrating {
                    LockSeen::Held
                } else {
                    LockSeen::Free
                },
                base_cooldown: BASE,
                now_ms: now,
                havip: false,
            });
            if fresh {
                self.nodes[i].view = Some(view.clone());
            }
            match step {
                MasterStep::LookUp if !fresh => {
                    view = self.lookup();
                    fresh = true;
                    continue;
                }
                MasterStep::ConflictOver => self.nodes[i].record = None,
                MasterStep::Reconcile { record, .. } => {
                    self.nodes[i].record = Some(record);
                    self.nodes[i].migrating = true;
                    self.nodes[i].reconciling = true;
                    self.migrate_tick(i);
                }
                _ => {}
            }
            return;
        }
    }

    /// Each node's moves, and of them its reconciles.
    fn run(mut self) -> Vec<(Vec<u64>, Vec<u64>)> {
        while self.now < SPLIT {
            if let Some((to, at)) = self.cloud.in_flight
                && at <= self.now
            {
                self.cloud.holder = to;
                self.cloud.in_flight = None;
            }
            for i in 0..self.nodes.len() {
                if self.nodes[i].migrating {
                    self.migrate_tick(i);
                }
                if self.now % INTERVAL == self.nodes[i].phase % INTERVAL {
                    self.check(i);
                }
            }
            self.now += TICK;
        }
        self.nodes
            .into_iter()
            .map(|n| (n.moves, n.reconciles))
            .collect()
    }
}

/// The cooldown in force before a node's `k`-th reconcile (k from 0): it doubles from BASE.
fn cooldown_before(k: usize) -> u64 {
    let s = BASE.as_secs().saturating_mul(1 << k.min(20)).min(600);
    s * 1000
}

fn report(n: usize, moves: &[(Vec<u64>, Vec<u64>)]) -> String {
    let per: Vec<String> = moves
        .iter()
        .enumerate()
        .map(|(i, (m, _))| {
            let at: Vec<String> = m.iter().map(|t| format!("{}", t / 1000)).collect();
            format!("node {i}: {} moves at s [{}]", m.len(), at.join(", "))
        })
        .collect();
    let total: usize = moves.iter().map(|(m, _)| m.len()).sum();
    format!("{n} masters, 300 s: {total} moves; {}", per.join("; "))
}

fn assert_one_move_per_growing_cooldown(n: usize) {
    let mut worst = 0;
    for (step, lag) in [(700, 2_000), (300, 1_000), (1_100, 3_000), (900, 500)] {
        let moves = Sim::new(n, step, lag).run();
        let shown = report(n, &moves);
        eprintln!("check-self runs {step} ms apart, lag {lag} ms: {shown}");
        check_moves(&moves, &shown);
        worst = worst.max(moves.iter().map(|(m, _)| m.len()).max().unwrap_or(0));
    }
    eprintln!("{n} masters: at most {worst} moves per node in 300 s");
}

/// Each node's reconciles come at most once per cooldown, which doubles from BASE; with the
/// move its MASTER notification made at the split, at most six moves per node in 300 s
/// (10 + 20 + 40 + 80 + 160 s > 300 s).
fn check_moves(moves: &[(Vec<u64>, Vec<u64>)], shown: &str) {
    for (all, reconciles) in moves {
        for (k, pair) in reconciles.windows(2).enumerate() {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= cooldown_before(k),
                "a node moved {gap} ms after its last reconcile, under a cooldown of {} ms: {shown}",
                cooldown_before(k)
            );
        }
        assert!(all.len() <= 6, "{shown}");
    }
}

#[test]
fn two_masters_in_a_split_move_the_vip_at_most_once_per_growing_cooldown_each() {
    assert_one_move_per_growing_cooldown(2);
}

#[test]
fn three_masters_in_a_split_do_not_rotate_the_vip() {
    assert_one_move_per_growing_cooldown(3);
}
