//! The one place that chooses an instance's VIPs.
//!
//! A `[[vip]]` follows the keepalived instance its `instance` names; when no VIP names one,
//! every VIP follows the only instance, whatever keepalived calls it (the record key is then
//! [`DEFAULT_INSTANCE`]). Commands that take `--vip` act on those named, each of which must be
//! configured and follow the instance whose recorded state gates its moves.

use std::net::Ipv4Addr;

use crate::config::{Config, VipConfig};
use crate::context::DEFAULT_INSTANCE;
use crate::exit::Exit;

/// The VIPs that follow the instance recorded under `key`.
pub fn of_instance<'a>(config: &'a Config, key: &str) -> Vec<&'a VipConfig> {
    if key == DEFAULT_INSTANCE && config.instance_names().is_empty() {
        return config.vips.iter().collect();
    }
    config
        .vips
        .iter()
        .filter(|v| v.instance.as_deref().is_none_or(|i| i == key))
        .collect()
}

/// The VIPs to act on: those `named` (each must be configured and follow `instance`), else
/// those of `instance` (at least one). Errors are configuration errors (exit 78) naming the fix.
pub fn select(
    config: &Config,
    instance: &str,
    named: &[Ipv4Addr],
) -> anyhow::Result<Vec<Ipv4Addr>> {
    let path = config.path.display();
    let vips: Vec<Ipv4Addr> = of_instance(config, instance)
        .iter()
        .map(|v| v.address)
        .collect();
    if !named.is_empty() {
        for vip in named {
            if config.vip(*vip).is_none() {
                return Err(crate::exit::exit(
                    Exit::Config,
                    anyhow::anyhow!(
                        "{vip} is not configured in {path}: add a [[vip]] entry with address = \"{vip}\""
                    ),
                ));
            }
            // Its moves are gated on the recorded state of the instance it follows.
            if !vips.contains(vip) {
                return Err(crate::exit::exit(
                    Exit::Config,
                    anyhow::anyhow!(
                        "{vip} does not follow keepalived instance {instance:?} in {path}; name its own instance with --instance"
                    ),
                ));
            }
        }
        return Ok(named.to_vec());
    }
    if vips.is_empty() {
        return Err(crate::exit::exit(
            Exit::Config,
            anyhow::anyhow!(
                "no [[vip]] in {path} follows keepalived instance {instance:?}; set instance = \"{instance}\" on its [[vip]] entries"
            ),
        ));
    }
    Ok(vips)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> Config {
        Config::from_toml_str(text, std::path::Path::new("/etc/keepalived/tcvip.toml")).unwrap()
    }

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 100);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 101);
    const C: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);

    #[test]
    fn vips_follow_the_only_instance_when_none_is_named() {
        let c = parse("[[vip]]\naddress = \"10.0.1.100\"\n[[vip]]\naddress = \"10.0.1.101\"\n");
        assert_eq!(of_instance(&c, DEFAULT_INSTANCE).len(), 2);
        assert_eq!(of_instance(&c, "VI_anything").len(), 2);
        assert_eq!(select(&c, DEFAULT_INSTANCE, &[]).unwrap(), [A, B]);
        assert_eq!(select(&c, DEFAULT_INSTANCE, &[B]).unwrap(), [B]);
    }

    #[test]
    fn vips_split_by_named_instance_and_a_named_vip_must_follow_it() {
        let c = parse(
            "[[vip]]\naddress = \"10.0.1.100\"\ninstance = \"VI_1\"\n\
             [[vip]]\naddress = \"10.0.2.100\"\ninstance = \"VI_2\"\n\
             [[vip]]\naddress = \"10.0.1.101\"\ninstance = \"VI_1\"\n",
        );
        assert_eq!(select(&c, "VI_1", &[]).unwrap(), [A, B]);
        assert_eq!(select(&c, "VI_2", &[]).unwrap(), [C]);
        let exit_of = |e: anyhow::Error| crate::exit::exit_of(&e);
        let e = select(&c, "VI_3", &[]).unwrap_err();
        assert!(e.to_string().contains("no [[vip]]"), "{e}");
        assert_eq!(exit_of(e), Exit::Config);
        let e = select(&c, "VI_1", &[C]).unwrap_err();
        assert!(
            e.to_string()
                .contains("does not follow keepalived instance \"VI_1\""),
            "{e}"
        );
        // 10.0.1.10 is not 10.0.1.100.
        let e = select(&c, "VI_1", &[Ipv4Addr::new(10, 0, 1, 10)]).unwrap_err();
        assert!(e.to_string().contains("is not configured"), "{e}");
        assert_eq!(exit_of(e), Exit::Config);
    }
}
