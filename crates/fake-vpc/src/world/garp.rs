//! HAVIP learning: the VPC routes a HAVIP's address to the ENI whose gratuitous ARP (GARP) for
//! it it saw last, once the learning delay has passed. A learned GARP becomes a [`Pending`]
//! binding due at `now + havip_learn`; a later learned GARP for the same HAVIP from another
//! ENI before then supersedes it (the last GARP wins; a repeat from the same ENI does not
//! restart the delay), and [`World::advance`] lands the binding with the
//! other pending changes (so the on-change hook runs as for a secondary IP landing).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::*;
use crate::net::Mac;

/// GARP records kept for `/_control/state` (the oldest are dropped beyond this).
pub const MAX_GARP_RECORDS: usize = 1000;

/// The longest learning delay accepted (longer values are clamped).
pub const MAX_HAVIP_LEARN: Duration = Duration::from_secs(3600);

impl World {
    /// How long after a GARP the HAVIP is bound (`--havip-learn-ms`).
    pub fn havip_learn(&self) -> Duration {
        self.havip_learn
    }
    /// Sets the learning delay (at most [`MAX_HAVIP_LEARN`]).
    pub fn set_havip_learn(&mut self, d: Duration) {
        self.havip_learn = d.min(MAX_HAVIP_LEARN);
    }
    /// The next `n` GARPs that would be learned are ignored instead (the `ignore_garps`
    /// fault; replaces any count left).
    pub fn set_ignore_garps(&mut self, n: u32) {
        self.ignore_garps = n;
    }
    /// GARPs the `ignore_garps` fault will still ignore.
    pub fn ignore_garps(&self) -> u32 {
        self.ignore_garps
    }
    /// The GARPs seen, oldest first (at most [`MAX_GARP_RECORDS`]).
    pub fn garps(&self) -> impl Iterator<Item = &GarpRecord> {
        self.garps.iter()
    }

    /// Sees a GARP for `ip` from `mac` (via `control` or an interface) at `now` (`unix_ms`
    /// for the record). Returns its record and those it superseded (now `superseded`).
    ///
    /// Verdicts, in this order: `ip` is no HAVIP's → `not-a-havip`; no ENI of the HAVIP's VPC
    /// has `mac` → `unknown-mac`; the `ignore_garps` fault has a count left → `ignored` (the
    /// count goes down); else `learned`.
    pub fn see_garp(
        &mut self,
        ip: Ipv4Addr,
        mac: Mac,
        via: &str,
        now: Instant,
        unix_ms: u64,
    ) -> (GarpRecord, Vec<GarpRecord>) {
        let havip = self.havips.iter().find(|h| h.vip == ip);
        let eni = self
            .enis
            .iter()
            .find(|e| e.mac == mac && havip.is_none_or(|h| h.vpc == e.vpc))
            .map(|e| e.id.clone());
        let havip = havip.map(|h| h.id.clone());
        let verdict = match (&havip, &eni) {
            (None, _) => GarpVerdict::NotAHavip,
            (Some(_), None) => GarpVerdict::UnknownMac,
            (Some(_), Some(_)) if self.ignore_garps > 0 => {
                self.ignore_garps -= 1;
                GarpVerdict::Ignored
            }
            (Some(_), Some(_)) => GarpVerdict::Learned,
        };
        self.next_garp += 1;
        let seq = self.next_garp;
        let mut out = Vec::new();
        if let (GarpVerdict::Learned, Some(h), Some(e)) = (verdict, &havip, &eni) {
            let superseded: Vec<u64> = self
                .pending
                .iter()
                .filter_map(|p| match (&p.task, p.changes.first()) {
                    // A repeat from the same ENI (keepalived sends bursts, tcvip resends) does
                    // not restart the learning: only another ENI's GARP supersedes.
                    (TaskRef::Garp(s), Some(Change::HaVipBind { havip, eni }))
                        if havip == h && eni != e =>
                    {
                        Some(*s)
                    }
                    _ => None,
                })
                .collect();
            self.pending
                .retain(|p| !matches!(&p.task, TaskRef::Garp(s) if superseded.contains(s)));
            for r in self.garps.iter_mut() {
                if superseded.contains(&r.seq) {
                    r.verdict = GarpVerdict::Superseded;
                    out.push(r.clone());
                }
            }
            self.pending.push(Pending {
                changes: vec![Change::HaVipBind {
                    havip: h.clone(),
                    eni: e.clone(),
                }],
                due: now + self.havip_learn,
                fail: false,
                task: TaskRef::Garp(seq),
            });
        }
        let record = GarpRecord {
            seq,
            time: unix_ms,
            ip,
            mac: mac.lower(),
            eni,
            havip,
            via: via.to_string(),
            verdict,
        };
        if self.garps.len() >= MAX_GARP_RECORDS {
            self.garps.pop_front();
        }
        self.garps.push_back(record.clone());
        (record, out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const HAVIP: &str = r#"
[[havip]]
id = "havip-demo0001"
vip = "198.18.1.200"
subnet = "subnet-demo0001"
"#;

    fn world() -> World {
        let text = format!("{}\n{HAVIP}", include_str!("../../examples/two-nodes.toml"));
        let t = Topology::from_toml_str(&text).unwrap();
        t.validate().unwrap();
        let mut w = World::from_topology(&t);
        w.set_havip_learn(Duration::from_secs(1));
        w
    }

    const VIP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 200);

    fn mac(s: &str) -> Mac {
        s.parse().unwrap()
    }

    fn bound(w: &World) -> Option<String> {
        w.havips()[0].eni.clone()
    }

    #[test]
    fn binds_after_the_delay_and_the_last_garp_wins() {
        let mut w = world();
        let t0 = Instant::now();
        let (r, superseded) = w.see_garp(VIP, mac("52:54:00:00:01:11"), "control", t0, 0);
        assert!(superseded.is_empty());
        assert_eq!(r.verdict, GarpVerdict::Learned);
        assert_eq!(r.eni.as_deref(), Some("eni-node0001"));
        assert!(w.advance(t0 + Duration::from_millis(999)).is_empty());
        assert_eq!(bound(&w), None);
        let l = w.advance(t0 + Duration::from_secs(1));
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].ip, VIP);
        assert_eq!(l[0].eni.as_deref(), Some("eni-node0001"));
        assert_eq!(
            l[0].instance_primary_ip,
            Some(Ipv4Addr::new(198, 18, 1, 11))
        );
        assert_eq!(bound(&w).as_deref(), Some("eni-node0001"));
        assert!(w.havips()[0].flushed.is_some());

        // Node 2, then node 1 again before node 2's delay elapsed: node 1 stays, no landing.
        let t1 = t0 + Duration::from_secs(5);
        w.see_garp(VIP, mac("52:54:00:00:01:12"), "control", t1, 0);
        let (_, r) = w.see_garp(
            VIP,
            mac("52:54:00:00:01:11"),
            "control",
            t1 + Duration::from_millis(500),
            0,
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].verdict, GarpVerdict::Superseded);
        assert_eq!(r[0].eni.as_deref(), Some("eni-node0002"));
        assert!(w.advance(t1 + Duration::from_secs(3)).is_empty());
        assert_eq!(bound(&w).as_deref(), Some("eni-node0001"));
        let verdicts: Vec<GarpVerdict> = w.garps().map(|g| g.verdict).collect();
        assert_eq!(
            verdicts,
            [
                GarpVerdict::Learned,
                GarpVerdict::Superseded,
                GarpVerdict::Learned
            ]
        );
    }

    #[test]
    fn a_repeat_from_the_same_eni_does_not_restart_the_delay() {
        let mut w = world();
        let t0 = Instant::now();
        let node1 = mac("52:54:00:00:01:11");
        w.see_garp(VIP, node1, "control", t0, 0);
        let (r, superseded) = w.see_garp(VIP, node1, "control", t0 + Duration::from_millis(600), 0);
        assert_eq!(r.verdict, GarpVerdict::Learned);
        assert!(superseded.is_empty());
        // Bound one delay after the first GARP, once (the repeat lands as no change).
        assert_eq!(w.advance(t0 + Duration::from_secs(1)).len(), 1);
        assert_eq!(bound(&w).as_deref(), Some("eni-node0001"));
        assert!(w.advance(t0 + Duration::from_secs(2)).is_empty());
        // Another ENI's GARP supersedes every pending one of the first.
        let t1 = t0 + Duration::from_secs(5);
        w.see_garp(VIP, mac("52:54:00:00:01:12"), "control", t1, 0);
        w.see_garp(VIP, mac("52:54:00:00:01:12"), "control", t1, 0);
        let (_, superseded) = w.see_garp(VIP, node1, "control", t1, 0);
        assert_eq!(superseded.len(), 2);
        assert!(w.advance(t1 + Duration::from_secs(2)).is_empty());
        assert_eq!(bound(&w).as_deref(), Some("eni-node0001"));
    }

    #[test]
    fn verdicts_other_than_learned_bind_nothing() {
        let mut w = world();
        let t0 = Instant::now();
        let (r, _) = w.see_garp(VIP, mac("52:54:00:00:09:99"), "tv0", t0, 0);
        assert_eq!(r.verdict, GarpVerdict::UnknownMac);
        assert_eq!(r.eni, None);
        let (r, _) = w.see_garp(
            Ipv4Addr::new(198, 18, 1, 11),
            mac("52:54:00:00:01:11"),
            "tv0",
            t0,
            0,
        );
        assert_eq!(r.verdict, GarpVerdict::NotAHavip);
        w.set_ignore_garps(1);
        let (r, _) = w.see_garp(VIP, mac("52:54:00:00:01:12"), "tv0", t0, 0);
        assert_eq!(r.verdict, GarpVerdict::Ignored);
        assert_eq!(w.ignore_garps(), 0);
        assert!(w.advance(t0 + Duration::from_secs(10)).is_empty());
        assert_eq!(bound(&w), None);
        let (r, _) = w.see_garp(VIP, mac("52:54:00:00:01:12"), "tv0", t0, 0);
        assert_eq!(r.verdict, GarpVerdict::Learned);
    }
}
