//! The hand-over's rules, as pure functions: when a node that left MASTER hands the VIP on, to
//! whom, and when it gives up. No I/O, no clock: the driver ([`super`]) gathers the facts.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use vip_state::KeepalivedState;

use crate::cloud::Holder;

/// Whether a notification of `new` for an instance whose previous record (of this keepalived's
/// life) said `previous` starts a hand-over: only a node that leaves MASTER for BACKUP, FAULT or
/// STOP does. A node starting up (INIT → BACKUP or FAULT) never does: whoever becomes MASTER
/// moves the VIP itself.
pub fn starts_hand_over(previous: Option<KeepalivedState>, new: KeepalivedState) -> bool {
    previous == Some(KeepalivedState::Master)
        && matches!(
            new,
            KeepalivedState::Backup | KeepalivedState::Fault | KeepalivedState::Stop
        )
}

/// Whom to hand to, before anything is heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Exactly one peer: it is the only node that can be (or become) MASTER; no need to listen.
    Peer(Ipv4Addr),
    /// Several peers: listen for the MASTER's adverts for this long.
    Listen(Duration),
    /// No peer is configured (multicast VRRP, or a single node): nobody to hand to.
    NoPeer,
}

/// How long to listen for the MASTER's adverts: two advert intervals and a half-second margin,
/// between 1.5 s and 10 s whatever `advert_int` says.
pub fn listen_window(advert_int_s: Option<f64>) -> Duration {
    let adv = advert_int_s
        .filter(|a| a.is_finite() && *a > 0.0)
        .unwrap_or(1.0);
    Duration::from_secs_f64((2.0 * adv + 0.5).clamp(1.5, 10.0))
}

/// The plan for an instance with these unicast peers.
pub fn plan(peers: &[Ipv4Addr], advert_int_s: Option<f64>) -> Plan {
    match peers {
        [] => Plan::NoPeer,
        [one] => Plan::Peer(*one),
        _ => Plan::Listen(listen_window(advert_int_s)),
    }
}

/// What the listening decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    HandTo(Ipv4Addr),
    /// Nothing to do, and why (for the log).
    GiveUp(&'static str),
}

/// With several peers: the MASTER heard, or give up (the other side's MASTER reconciles itself).
pub fn choose(heard: Option<Ipv4Addr>) -> Choice {
    match heard {
        Some(master) => Choice::HandTo(master),
        None => Choice::GiveUp(
            "no advert heard from a MASTER and several peers: left to the other side's MASTER (its check-self reconciles)",
        ),
    }
}

/// A VRRP advert as read off the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert {
    pub source: Ipv4Addr,
    pub vrid: u8,
    pub priority: u8,
}

/// Parses an IPv4 packet carrying a VRRP (v2 or v3) advertisement: the IP header (its length
/// from IHL, protocol 112) and the first three bytes of VRRP (version/type, VRID, priority).
pub fn parse_advert(packet: &[u8]) -> Option<Advert> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 || *packet.get(9)? != 112 {
        return None;
    }
    let source = Ipv4Addr::new(
        *packet.get(12)?,
        *packet.get(13)?,
        *packet.get(14)?,
        *packet.get(15)?,
    );
    let vrrp = packet.get(ihl..)?;
    let (vt, vrid, priority) = (*vrrp.first()?, *vrrp.get(1)?, *vrrp.get(2)?);
    // Version 2 or 3, type 1 (ADVERTISEMENT).
    if !matches!(vt >> 4, 2 | 3) || vt & 0x0f != 1 {
        return None;
    }
    Some(Advert {
        source,
        vrid,
        priority,
    })
}

/// Whether `advert` comes from a MASTER of our instance: our VRID, a priority above 0 (0 is a
/// master stepping down), not from ourselves, and from a listed peer when peers are listed
/// (keepalived's `check_unicast_src`).
pub fn from_master(advert: &Advert, vrid: u8, own: Option<Ipv4Addr>, peers: &[Ipv4Addr]) -> bool {
    advert.vrid == vrid
        && advert.priority > 0
        && Some(advert.source) != own
        && (peers.is_empty() || peers.contains(&advert.source))
}

/// Why the write must not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// keepalived made this node MASTER again: the VIP stays.
    MasterAgain,
    /// The cloud no longer has the VIP on this node's ENI (someone moved it, or it is unassigned).
    NotHere,
    /// A change of the VIP is in flight (the MASTER's own move, most likely).
    Changing,
    /// The address is an ENI's primary IP: never moved.
    Primary,
}

impl Hold {
    pub fn reason(self) -> &'static str {
        match self {
            Hold::MasterAgain => "this node is MASTER again",
            Hold::NotHere => "the cloud no longer routes the VIP to this node's ENI",
            Hold::Changing => "a change of the VIP is in flight",
            Hold::Primary => "the address is an ENI's primary IP",
        }
    }
}

/// Checked on fresh facts just before the write (and before the lookups that lead to it): the
/// latest record is still not MASTER, and the cloud still has the VIP, settled, on `own_eni`.
pub fn may_write(
    latest: KeepalivedState,
    holder: Option<&Holder>,
    own_eni: &str,
) -> Result<(), Hold> {
    if latest == KeepalivedState::Master {
        return Err(Hold::MasterAgain);
    }
    let holder = holder.ok_or(Hold::NotHere)?;
    if holder.primary {
        return Err(Hold::Primary);
    }
    if holder.is_changing() {
        return Err(Hold::Changing);
    }
    if holder.eni != own_eni {
        return Err(Hold::NotHere);
    }
    Ok(())
}

/// How often a change of the VIP in flight is looked at again while the hand-over waits for it.
pub const CHANGE_POLL: Duration = Duration::from_millis(250);

/// Whether the hand-over waits and looks again instead of giving up on `hold`: a change in
/// flight (the winner's own move, or a reconcile of a peer that is itself about to step down)
/// ends one way or the other within the landing lag, and may well end with the VIP on this
/// node's ENI, which then must still be handed over. Only while a look after the next poll
/// still fits before `deadline`.
pub fn waits_for(hold: Hold, now: Instant, deadline: Instant) -> bool {
    hold == Hold::Changing && now + CHANGE_POLL < deadline
}

/// The peer's ENI, found by its primary IP: it must be a primary IP of an ENI other than ours.
pub fn peer_eni(found: Option<&Holder>, own_eni: &str) -> Option<String> {
    found
        .filter(|h| h.primary && h.eni != own_eni)
        .map(|h| h.eni.clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_change_in_flight_is_waited_for_until_the_deadline_and_nothing_else_is() {
        let now = Instant::now();
        let deadline = now + Duration::from_secs(20);
        assert!(waits_for(Hold::Changing, now, deadline));
        assert!(!waits_for(Hold::Changing, deadline - CHANGE_POLL, deadline));
        for hold in [Hold::MasterAgain, Hold::NotHere, Hold::Primary] {
            assert!(!waits_for(hold, now, deadline), "{hold:?}");
        }
    }
    use KeepalivedState::{Backup, Fault, Master, Stop, Unknown};

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn holder(eni: &str, state: &str, primary: bool) -> Holder {
        Holder {
            eni: eni.to_owned(),
            instance: None,
            state: state.to_owned(),
            primary,
        }
    }

    #[test]
    fn only_a_node_leaving_master_hands_over() {
        for new in [Backup, Fault, Stop] {
            assert!(starts_hand_over(Some(Master), new), "{new}");
            // Starting up (no record of this life, or BACKUP/FAULT before): never.
            assert!(!starts_hand_over(None, new));
            assert!(!starts_hand_over(Some(Backup), new));
            assert!(!starts_hand_over(Some(Fault), new));
            assert!(!starts_hand_over(Some(Unknown), new));
        }
        assert!(!starts_hand_over(Some(Master), Master));
        assert!(!starts_hand_over(Some(Master), Unknown));
    }

    #[test]
    fn one_peer_is_handed_to_at_once_several_are_listened_for() {
        assert_eq!(
            plan(&[ip("10.0.1.12")], Some(1.0)),
            Plan::Peer(ip("10.0.1.12"))
        );
        assert_eq!(plan(&[], Some(1.0)), Plan::NoPeer);
        assert_eq!(
            plan(&[ip("10.0.1.12"), ip("10.0.1.13")], Some(1.0)),
            Plan::Listen(Duration::from_millis(2500))
        );
    }

    #[test]
    fn the_listening_window_is_bounded() {
        assert_eq!(listen_window(None), Duration::from_millis(2500));
        assert_eq!(listen_window(Some(0.1)), Duration::from_millis(1500));
        assert_eq!(listen_window(Some(3.0)), Duration::from_millis(6500));
        assert_eq!(listen_window(Some(255.0)), Duration::from_secs(10));
        assert_eq!(listen_window(Some(f64::NAN)), Duration::from_millis(2500));
        assert_eq!(listen_window(Some(-1.0)), Duration::from_millis(2500));
    }

    #[test]
    fn nothing_heard_with_several_peers_gives_up() {
        assert_eq!(
            choose(Some(ip("10.0.1.13"))),
            Choice::HandTo(ip("10.0.1.13"))
        );
        assert!(matches!(choose(None), Choice::GiveUp(_)));
    }

    fn packet(src: [u8; 4], proto: u8, vt: u8, vrid: u8, prio: u8) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[9] = proto;
        p[12..16].copy_from_slice(&src);
        p[20] = vt;
        p[21] = vrid;
        p[22] = prio;
        p
    }

    #[test]
    fn adverts_are_parsed_from_the_ip_packet() {
        let a = parse_advert(&packet([10, 0, 1, 12], 112, 0x21, 51, 100)).unwrap();
        assert_eq!(
            a,
            Advert {
                source: ip("10.0.1.12"),
                vrid: 51,
                priority: 100
            }
        );
        // VRRPv3 too.
        assert!(parse_advert(&packet([10, 0, 1, 12], 112, 0x31, 51, 100)).is_some());
        // Not VRRP, not an advert, a bad version, truncated.
        assert!(parse_advert(&packet([10, 0, 1, 12], 6, 0x21, 51, 100)).is_none());
        assert!(parse_advert(&packet([10, 0, 1, 12], 112, 0x22, 51, 100)).is_none());
        assert!(parse_advert(&packet([10, 0, 1, 12], 112, 0x11, 51, 100)).is_none());
        assert!(parse_advert(&packet([10, 0, 1, 12], 112, 0x21, 51, 100)[..22]).is_none());
        assert!(parse_advert(&[]).is_none());
        // IP options move the VRRP header.
        let mut opts = packet([10, 0, 1, 12], 112, 0, 0, 0);
        opts[0] = 0x46;
        opts.truncate(24);
        opts.extend_from_slice(&[0x21, 7, 150, 1]);
        assert_eq!(parse_advert(&opts).unwrap().vrid, 7);
    }

    #[test]
    fn only_a_masters_advert_of_our_instance_from_a_peer_counts() {
        let peers = [ip("10.0.1.12"), ip("10.0.1.13")];
        let own = Some(ip("10.0.1.11"));
        let ok = Advert {
            source: ip("10.0.1.13"),
            vrid: 51,
            priority: 100,
        };
        assert!(from_master(&ok, 51, own, &peers));
        assert!(!from_master(&Advert { vrid: 52, ..ok }, 51, own, &peers));
        assert!(!from_master(&Advert { priority: 0, ..ok }, 51, own, &peers));
        assert!(!from_master(
            &Advert {
                source: ip("10.0.1.11"),
                ..ok
            },
            51,
            own,
            &peers
        ));
        assert!(!from_master(
            &Advert {
                source: ip("10.0.1.99"),
                ..ok
            },
            51,
            own,
            &peers
        ));
        // No peer list (multicast): any other source.
        assert!(from_master(
            &Advert {
                source: ip("10.0.1.99"),
                ..ok
            },
            51,
            own,
            &[]
        ));
    }

    #[test]
    fn the_write_needs_fresh_facts_still_pointing_here() {
        let here = holder("eni-me", "AVAILABLE", false);
        assert_eq!(may_write(Backup, Some(&here), "eni-me"), Ok(()));
        assert_eq!(may_write(Stop, Some(&here), "eni-me"), Ok(()));
        assert_eq!(may_write(Unknown, Some(&here), "eni-me"), Ok(()));
        assert_eq!(
            may_write(Master, Some(&here), "eni-me"),
            Err(Hold::MasterAgain)
        );
        assert_eq!(may_write(Backup, None, "eni-me"), Err(Hold::NotHere));
        assert_eq!(
            may_write(
                Backup,
                Some(&holder("eni-other", "AVAILABLE", false)),
                "eni-me"
            ),
            Err(Hold::NotHere)
        );
        assert_eq!(
            may_write(
                Backup,
                Some(&holder("eni-me", "MIGRATING", false)),
                "eni-me"
            ),
            Err(Hold::Changing)
        );
        assert_eq!(
            may_write(
                Backup,
                Some(&holder("eni-other", "MIGRATING", false)),
                "eni-me"
            ),
            Err(Hold::Changing)
        );
        assert_eq!(
            may_write(Backup, Some(&holder("eni-me", "AVAILABLE", true)), "eni-me"),
            Err(Hold::Primary)
        );
    }

    #[test]
    fn the_peers_eni_is_another_enis_primary_ip() {
        assert_eq!(
            peer_eni(Some(&holder("eni-2", "AVAILABLE", true)), "eni-1").as_deref(),
            Some("eni-2")
        );
        assert_eq!(
            peer_eni(Some(&holder("eni-2", "AVAILABLE", false)), "eni-1"),
            None
        );
        assert_eq!(
            peer_eni(Some(&holder("eni-1", "AVAILABLE", true)), "eni-1"),
            None
        );
        assert_eq!(peer_eni(None, "eni-1"), None);
    }
}
