//! Why the identity could not be established; each error names the key that would supply
//! the fact.

use std::time::Duration;

use tencent_api::metadata::MetadataError;

use super::MacAddr;
use crate::config::InstanceId;
use crate::nic::NicError;

/// Why the identity could not be established.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// A metadata read failed (unreachable, timed out, 404 …).
    #[error(
        "cannot learn the {fact} from the metadata service: {source}; set {key}, or check metadata.url"
    )]
    Metadata {
        /// The fact (`instance id`, `region`, …).
        fact: &'static str,
        /// The configuration key(s) that would make the read unnecessary.
        key: &'static str,
        /// The failure.
        source: MetadataError,
    },
    /// The deadline passed while the metadata service was being read: it was too slow.
    #[error(
        "the deadline passed while learning the {fact} from the metadata service, which was too slow ({reads} read(s) in {} ms): {source}; set {key} so that it is not read, or allow more time",
        spent.as_millis()
    )]
    MetadataTooSlow {
        /// The fact being read when the deadline came.
        fact: &'static str,
        /// The configuration key(s) that would make the read unnecessary.
        key: &'static str,
        /// Reads made in this discovery, the one cut included.
        reads: u32,
        /// Time spent reading.
        spent: Duration,
        /// The cut read.
        source: MetadataError,
    },
    /// The metadata service answered something unusable.
    #[error("the metadata service gave an unusable {fact}: {reason}; set {key}")]
    BadMetadata {
        /// The fact.
        fact: &'static str,
        /// The configuration key that would supply it.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// DescribeNetworkInterfaces failed.
    #[error(
        "cannot find the ENI of {instance} through DescribeNetworkInterfaces: {source}; set node.eni_id"
    )]
    Api {
        /// The instance.
        instance: InstanceId,
        /// The failure.
        source: tencent_api::Error,
    },
    /// No ENI of the instance carries the primary MAC.
    #[error(
        "no ENI attached to {instance} has MAC {mac} (attached: {}); set node.eni_id",
        if seen.is_empty() { "none".to_owned() } else { seen.join(", ") }
    )]
    NoMatchingEni {
        /// The instance.
        instance: InstanceId,
        /// The MAC looked for.
        mac: MacAddr,
        /// `eni-… (MAC)` of each ENI seen.
        seen: Vec<String>,
    },
    /// No local interface carries the primary MAC.
    #[error("no local network interface has MAC {mac}; set vip.interface")]
    NoInterface {
        /// The MAC.
        mac: MacAddr,
    },
    /// Reading `/sys/class/net` failed, or the MAC is on several interfaces.
    #[error(transparent)]
    Nic(#[from] NicError),
}
