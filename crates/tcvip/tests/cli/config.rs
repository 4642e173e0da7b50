//! The configuration file as a user meets it: defaults, the documented example, error messages
//! that name file, key and expectation, flag overrides and the
//! VIP → keepalived instance mapping.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use tcvip::config::{
    Config, ConfigError, CredentialSource, Language, LogLevel, OnCloudError, Overrides,
};

pub const FILE: &str = "/etc/keepalived/tcvip.toml";
pub const MINIMAL: &str = "[[vip]]\naddress = \"10.0.1.100\"\n";

pub fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, Path::new(FILE))
}

fn error(text: &str) -> ConfigError {
    parse(text).expect_err("the file should be refused")
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keepalived-examples/tcvip.toml")
}

#[test]
fn minimal_file_gets_the_documented_defaults() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.path, Path::new(FILE));
    assert_eq!(c.vips.len(), 1);
    let v = &c.vips[0];
    assert_eq!(v.address, Ipv4Addr::new(10, 0, 1, 100));
    assert_eq!(
        (v.instance.as_deref(), v.interface.as_deref(), v.prefix_len),
        (None, None, 32)
    );
    assert_eq!(c.cloud.region, None);
    assert_eq!(c.cloud.endpoint.url(), "https://vpc.tencentcloudapi.com/");
    assert_eq!(c.cloud.language, Language::EnUs);
    assert_eq!(c.cloud.timeout_ms, 3000);
    assert_eq!(c.credentials.source, CredentialSource::Auto);
    assert!(c.credentials.secret_key.is_none() && c.credentials.profile_file.is_none());
    assert_eq!(
        c.metadata.url,
        "http://metadata.tencentyun.com/latest/meta-data/"
    );
    assert!(c.node.instance_id.is_none() && c.node.eni_id.is_none() && c.node.vpc_id.is_none());
    assert_eq!(
        (c.failover.deadline_s, c.failover.assign_if_unassigned),
        (60, false)
    );
    assert_eq!(c.check.deadline_ms, 2000);
    assert_eq!(c.check.cloud_ttl_s, 30);
    assert_eq!(c.check.reconcile_cooldown_s, 10);
    assert_eq!(c.check.on_cloud_error, OnCloudError::Pass);
    assert!(c.check.remove_stray_vip);
    assert!(c.check.service_checks.is_empty());
    assert_eq!(c.state.dir, Path::new("/run/tcvip"));
    assert_eq!(c.log.target.to_string(), "syslog");
    assert_eq!(c.log.level, LogLevel::Info);
}

#[test]
fn every_key_in_design_spelling_is_accepted() {
    let text = r#"
[cloud]
region     = "ap-guangzhou"
endpoint   = "vpc.internal.tencentcloudapi.com"
language   = "zh-CN"
timeout_ms = 1500

[credentials]
source = "profile"
profile_file = "/etc/tencentcloud/credentials"

[metadata]
url = "http://127.0.0.1:9/latest/meta-data"

[node]
instance_id = "ins-3g445roi"
eni_id = "eni-5k7dxqp1"
vpc_id = "vpc-2x9ab4cd"

[[vip]]
address   = "10.0.1.100"
instance  = "VI_1"
interface = "eth0"

[[vip]]
address    = "10.0.1.10"
instance   = "VI_2"
prefix_len = 24

[failover]
deadline_s           = 30
assign_if_unassigned = true

[check]
deadline_ms          = 1500
cloud_ttl_s          = 20
reconcile_cooldown_s = 5
on_cloud_error       = "fail"
remove_stray_vip     = false
service_checks = [ { argv = ["systemctl", "is-active", "--quiet", "haproxy"], timeout_ms = 1000 },
                   { argv = ["/bin/true"] } ]

[state]
dir = "/var/run/tcvip-test"

[log]
target = "file:/var/log/tcvip.log"
level  = "debug"
"#;
    let c = parse(text).unwrap();
    assert_eq!(c.cloud.region.as_ref().unwrap().as_str(), "ap-guangzhou");
    assert_eq!(
        c.cloud.endpoint.authority(),
        "vpc.internal.tencentcloudapi.com"
    );
    assert_eq!(c.cloud.language, Language::ZhCn);
    assert_eq!(c.credentials.source, CredentialSource::Profile);
    // A missing trailing slash is added so sub-paths can be appended.
    assert_eq!(c.metadata.url, "http://127.0.0.1:9/latest/meta-data/");
    assert_eq!(c.node.eni_id.as_ref().unwrap().as_str(), "eni-5k7dxqp1");
    assert_eq!(c.vips[1].prefix_len, 24);
    assert_eq!(c.check.on_cloud_error, OnCloudError::Fail);
    assert_eq!(
        c.check.service_checks[1].timeout_ms, 1000,
        "service check timeout default"
    );
    assert_eq!(c.check.service_checks[0].argv[3], "haproxy");
    assert_eq!(c.log.level, LogLevel::Debug);
    assert!(c.failover.assign_if_unassigned);
}

#[test]
fn example_file_parses_as_shipped_and_with_every_key_uncommented() {
    let text = std::fs::read_to_string(example_path()).unwrap();
    let shipped = parse(&text).unwrap();
    assert_eq!(shipped.vips.len(), 1);

    // "#key = value" lines (no space after '#') are the documented keys: uncomment them all.
    let full: String = text
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '[') => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(full, text);
    let c = parse(&full).unwrap_or_else(|e| panic!("uncommented example: {e}"));
    // Documented defaults must be the real defaults.
    let d = parse(MINIMAL).unwrap();
    assert_eq!(c.cloud.endpoint, d.cloud.endpoint);
    assert_eq!(c.cloud.language, d.cloud.language);
    assert_eq!(c.cloud.timeout_ms, d.cloud.timeout_ms);
    assert_eq!(c.credentials.source, d.credentials.source);
    assert_eq!(c.metadata.url, d.metadata.url);
    assert_eq!(c.vips[0].prefix_len, d.vips[0].prefix_len);
    assert_eq!(c.drain.file, d.drain.file);
    assert_eq!(d.drain.file, Path::new("/var/lib/tcvip/drain"));
    assert!(d.vips[0].eip.is_none());
    assert_eq!(
        c.vips[0].eip.as_ref().map(|e| e.as_str()),
        Some("eip-m44ku5d2")
    );
    assert_eq!(c.failover.deadline_s, d.failover.deadline_s);
    assert_eq!(
        c.failover.assign_if_unassigned,
        d.failover.assign_if_unassigned
    );
    assert_eq!(c.check.deadline_ms, d.check.deadline_ms);
    assert_eq!(c.check.cloud_ttl_s, d.check.cloud_ttl_s);
    assert_eq!(c.check.reconcile_cooldown_s, d.check.reconcile_cooldown_s);
    assert_eq!(c.check.on_cloud_error, d.check.on_cloud_error);
    assert_eq!(c.check.remove_stray_vip, d.check.remove_stray_vip);
    assert_eq!(c.state.dir, d.state.dir);
    assert_eq!(c.log.target, d.log.target);
    assert_eq!(c.log.level, d.log.level);
    assert!(
        c.cloud.region.is_some() && c.node.instance_id.is_some(),
        "discovered keys have examples"
    );
}

#[test]
fn bad_enum_value_names_file_key_and_choices() {
    let e = error(&format!("{MINIMAL}[check]\non_cloud_error = \"maybe\"\n"));
    assert_eq!(
        e.to_string(),
        "/etc/keepalived/tcvip.toml: check.on_cloud_error: expected \"pass\" or \"fail\", found \"maybe\" (line 4)"
    );
    assert_eq!(e.key(), Some("check.on_cloud_error"));
}

#[test]
fn unknown_keys_are_errors_with_their_dotted_path() {
    let e = error(&format!("{MINIMAL}[check]\ndeadline = 1000\n"));
    let msg = e.to_string();
    assert_eq!(e.key(), Some("check.deadline"));
    assert!(
        msg.starts_with("/etc/keepalived/tcvip.toml: check.deadline: unknown key"),
        "{msg}"
    );
    assert!(
        msg.contains("deadline_ms") && msg.contains("line 4"),
        "{msg}"
    );

    assert_eq!(
        error(&format!("{MINIMAL}[[vip]]\nadress = \"10.0.1.1\"\n")).key(),
        Some("vip[1].adress")
    );
    assert_eq!(error(&format!("colud = 1\n{MINIMAL}")).key(), Some("colud"));
    assert_eq!(
        error(&format!(
            "{MINIMAL}[check]\nservice_checks = [{{ argv = [\"x\"], timout_ms = 5 }}]\n"
        ))
        .key(),
        Some("check.service_checks[0].timout_ms")
    );
}

#[test]
fn bad_values_name_the_entry_they_are_in() {
    let e = error(&format!("{MINIMAL}[[vip]]\naddress = \"10.0.1.300\"\n"));
    assert_eq!(e.key(), Some("vip[1].address"));
    assert!(
        e.to_string()
            .contains(r#"expected an IPv4 address like "10.0.1.100", found "10.0.1.300""#),
        "{e}"
    );

    // The cooldown doubles up to 600 s; a first cooldown above that is refused, not capped.
    let e = error(&format!("{MINIMAL}[check]\nreconcile_cooldown_s = 601\n"));
    assert_eq!(e.key(), Some("check.reconcile_cooldown_s"));
    assert!(e.to_string().contains("from 1 to 600"), "{e}");
    assert!(parse(&format!("{MINIMAL}[check]\nreconcile_cooldown_s = 600\n")).is_ok());

    let e = error(&format!("{MINIMAL}[check]\ndeadline_ms = \"2s\"\n"));
    assert_eq!(e.key(), Some("check.deadline_ms"));
    assert!(e.to_string().contains("expected a whole number"), "{e}");

    let e = error(&format!("{MINIMAL}[[vip]]\ninstance = \"VI_1\"\n"));
    assert_eq!(e.key(), Some("vip[1]"));
    assert!(e.to_string().contains("missing key `address`"), "{e}");

    assert_eq!(
        error(&format!("{MINIMAL}[node]\neni_id = \"ins-1\"\n")).key(),
        Some("node.eni_id")
    );
    assert_eq!(
        error(&format!("{MINIMAL}[log]\ntarget = \"journal\"\n")).key(),
        Some("log.target")
    );
    assert_eq!(
        error(&format!("{MINIMAL}[log]\nlevel = \"loud\"\n")).key(),
        Some("log.level")
    );
    assert_eq!(
        error(&format!("{MINIMAL}[credentials]\nsource = \"vault\"\n")).key(),
        Some("credentials.source")
    );
    assert_eq!(
        error(&format!("{MINIMAL}[cloud]\nregion = \"AP Guangzhou\"\n")).key(),
        Some("cloud.region")
    );
}

#[test]
fn toml_syntax_errors_give_the_line() {
    let e = error("[[vip]\naddress = \"10.0.1.100\"\n");
    let msg = e.to_string();
    assert!(
        msg.starts_with("/etc/keepalived/tcvip.toml: not valid TOML"),
        "{msg}"
    );
    assert!(msg.contains("line 1"), "{msg}");
}

#[test]
fn semantic_errors() {
    let cases: &[(&str, &str, &str)] = &[
        ("", "vip", "at least one"),
        (
            "[[vip]]\naddress = \"10.0.1.100\"\n[[vip]]\naddress = \"10.0.1.100\"\n",
            "vip[1].address",
            "already listed as vip[0].address",
        ),
        (
            "[check]\ndeadline_ms = 0\n",
            "check.deadline_ms",
            "from 100 to 60000",
        ),
        (
            "[check]\ndeadline_ms = 2000000\n",
            "check.deadline_ms",
            "vrrp_script",
        ),
        (
            "[check]\nservice_checks = [ { argv = [] } ]\n",
            "check.service_checks[0].argv",
            "program",
        ),
        (
            "[check]\nservice_checks = [ { argv = [\"\"] } ]\n",
            "check.service_checks[0].argv",
            "program",
        ),
        (
            "[check]\ndeadline_ms = 500\nservice_checks = [ { argv = [\"true\"], timeout_ms = 900 } ]\n",
            "check.service_checks[0].timeout_ms",
            "check.deadline_ms (500)",
        ),
        (
            "[failover]\ndeadline_s = 0\n",
            "failover.deadline_s",
            "from 1",
        ),
        ("[state]\ndir = \"run/tcvip\"\n", "state.dir", "absolute"),
        (
            "[credentials]\nsource = \"file\"\n",
            "credentials.source",
            "secret_id and credentials.secret_key",
        ),
        (
            "[credentials]\nsecret_id = \"AKIDx\"\n",
            "credentials.secret_key",
            "missing",
        ),
        (
            "[credentials]\nsecret_id = \"AKIDx\"\nsecret_key = \"k\"\n",
            "credentials.source",
            "set source = \"file\"",
        ),
        (
            "[credentials]\nsource = \"env\"\nprofile_file = \"/etc/tencentcloud/credentials\"\n",
            "credentials.profile_file",
            "only read",
        ),
    ];
    for (extra, key, needle) in cases {
        let text = if extra.starts_with("[[vip]]") || extra.is_empty() {
            (*extra).to_owned()
        } else {
            format!("{MINIMAL}{extra}")
        };
        let e = error(&text);
        assert_eq!(e.key(), Some(*key), "{text}: {e}");
        assert!(e.to_string().contains(needle), "{text}: {e}");
        assert!(e.to_string().starts_with(FILE), "{e}");
    }
    let e = error("[[vip]]\naddress = \"10.0.1.1\"\nprefix_len = 33\n");
    assert_eq!(e.key(), Some("vip[0].prefix_len"));
}

#[test]
fn endpoint_http_is_refused_except_loopback_and_rehearsal_range() {
    for ok in [
        "http://127.0.0.1:8080",
        "http://localhost:9",
        "http://198.18.0.1:8080",
        "https://vpc.example.com",
    ] {
        let c = parse(&format!("{MINIMAL}[cloud]\nendpoint = \"{ok}\"\n")).unwrap();
        assert_eq!(c.cloud.endpoint.is_https(), ok.starts_with("https"));
    }
    let e = error(&format!(
        "{MINIMAL}[cloud]\nendpoint = \"http://vpc.tencentcloudapi.com\"\n"
    ));
    assert_eq!(e.key(), Some("cloud.endpoint"));
    assert!(e.to_string().contains("HTTPS only"), "{e}");
}

#[test]
fn vips_name_their_instance_and_are_found_exactly() {
    let c = parse(
        "[[vip]]\naddress = \"10.0.1.100\"\ninstance = \"VI_1\"\n\
         [[vip]]\naddress = \"10.0.2.100\"\ninstance = \"VI_2\"\n\
         [[vip]]\naddress = \"10.0.1.101\"\ninstance = \"VI_1\"\n",
    )
    .unwrap();
    assert_eq!(c.instance_names(), ["VI_1", "VI_2"]);
    let c2 =
        parse("[[vip]]\naddress = \"10.0.1.100\"\n[[vip]]\naddress = \"10.0.1.101\"\n").unwrap();
    assert!(c2.instance_names().is_empty());
    assert!(c.vip(Ipv4Addr::new(10, 0, 2, 100)).is_some());
    // 10.0.1.10 is not 10.0.1.100.
    assert!(c.vip(Ipv4Addr::new(10, 0, 1, 10)).is_none());

    let e = error(
        "[[vip]]\naddress = \"10.0.1.100\"\ninstance = \"VI_1\"\n[[vip]]\naddress = \"10.0.2.100\"\n",
    );
    assert_eq!(e.key(), Some("vip[1].instance"));
}

#[test]
fn flags_override_file_values() {
    let mut c = parse(&format!("{MINIMAL}[cloud]\nregion = \"ap-shanghai\"\n")).unwrap();
    c.apply(&Overrides {
        region: Some("ap-guangzhou".into()),
        endpoint: Some("http://127.0.0.1:4567".into()),
        state_dir: Some(PathBuf::from("/tmp/tcvip-state")),
        log_target: Some("stderr".into()),
        log_level: Some("debug".into()),
    })
    .unwrap();
    assert_eq!(c.cloud.region.as_ref().unwrap().as_str(), "ap-guangzhou");
    assert_eq!(c.cloud.endpoint.url(), "http://127.0.0.1:4567/");
    assert_eq!(c.state.dir, Path::new("/tmp/tcvip-state"));
    assert_eq!(
        (c.log.target.to_string().as_str(), c.log.level),
        ("stderr", LogLevel::Debug)
    );

    let e = c
        .apply(&Overrides {
            log_level: Some("loud".into()),
            ..Overrides::default()
        })
        .unwrap_err();
    assert_eq!(e.key(), Some("log.level (from the command line)"));
    assert_eq!(
        c.log.level,
        LogLevel::Debug,
        "a refused override changes nothing"
    );
}

#[test]
fn vip_eip_and_drain_file_are_checked() {
    let msg = error("[[vip]]\naddress = \"10.0.1.100\"\neip = \"10.0.0.1\"\n").to_string();
    assert!(
        msg.contains("vip[0].eip") && msg.contains("an EIP id like"),
        "{msg}"
    );
    let msg = error(
        "[[vip]]\naddress = \"10.0.1.100\"\neip = \"eip-a1\"\n[[vip]]\naddress = \"10.0.1.101\"\neip = \"eip-a1\"\n",
    )
    .to_string();
    assert!(
        msg.contains("vip[1].eip") && msg.contains("vip[0]"),
        "{msg}"
    );
    let msg = error("[[vip]]\naddress = \"10.0.1.100\"\n[drain]\nfile = \"drain\"\n").to_string();
    assert!(
        msg.contains("drain.file") && msg.contains("absolute"),
        "{msg}"
    );
    let c = parse(
        "[[vip]]\naddress = \"10.0.1.100\"\neip = \"eip-a1\"\n[drain]\nfile = \"/srv/drain\"\n",
    )
    .unwrap();
    assert_eq!(c.vips[0].eip.as_ref().unwrap().as_str(), "eip-a1");
    assert_eq!(c.drain.file, Path::new("/srv/drain"));
}

#[test]
fn special_addresses_are_refused_as_vips_naming_the_entry() {
    for (address, what) in [
        ("127.0.0.1", "loopback"),
        ("127.1.2.3", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.18", "multicast"),
        ("255.255.255.255", "broadcast"),
    ] {
        let text =
            format!("[[vip]]\naddress = \"10.0.1.100\"\n\n[[vip]]\naddress = \"{address}\"\n");
        let e = error(&text).to_string();
        assert!(e.contains("vip[1].address"), "{address}: {e}");
        assert!(e.contains(&format!("{address} is")), "{address}: {e}");
        assert!(e.contains(what), "{address}: {e}");
        assert!(e.contains("never a VIP"), "{address}: {e}");
    }
}

#[test]
fn a_havip_entry_needs_its_id_and_an_id_needs_the_kind() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.vips[0].kind, tcvip::config::VipKind::SecondaryIp);
    assert!(c.vips[0].havip_id.is_none());
    assert_eq!(c.failover.havip_bind_timeout_ms, 2000);

    let c = parse(
        "[[vip]]\naddress = \"10.0.1.100\"\nkind = \"havip\"\nhavip_id = \"havip-a1\"\n[failover]\nhavip_bind_timeout_ms = 1500\n",
    )
    .unwrap();
    assert_eq!(c.vips[0].kind, tcvip::config::VipKind::Havip);
    assert_eq!(c.vips[0].havip_id.as_ref().unwrap().as_str(), "havip-a1");
    assert_eq!(c.failover.havip_bind_timeout_ms, 1500);

    let msg = error("[[vip]]\naddress = \"10.0.1.100\"\nkind = \"havip\"\n").to_string();
    assert!(
        msg.contains("vip[0].havip_id") && msg.contains("missing") && msg.contains("havip-"),
        "{msg}"
    );
    let msg = error("[[vip]]\naddress = \"10.0.1.100\"\nhavip_id = \"havip-a1\"\n").to_string();
    assert!(
        msg.contains("vip[0].havip_id") && msg.contains("kind = \"havip\""),
        "{msg}"
    );
    let msg =
        error("[[vip]]\naddress = \"10.0.1.100\"\nkind = \"HAVIP\"\nhavip_id = \"havip-a1\"\n")
            .to_string();
    assert!(
        msg.contains("vip[0].kind") && msg.contains("\"secondary-ip\" or \"havip\""),
        "{msg}"
    );
    let msg = error("[[vip]]\naddress = \"10.0.1.100\"\nkind = \"havip\"\nhavip_id = \"eni-a1\"\n")
        .to_string();
    assert!(
        msg.contains("vip[0].havip_id") && msg.contains("a HAVIP id"),
        "{msg}"
    );
    let msg = error(
        "[[vip]]\naddress = \"10.0.1.100\"\nkind = \"havip\"\nhavip_id = \"havip-a1\"\n[[vip]]\naddress = \"10.0.1.101\"\nkind = \"havip\"\nhavip_id = \"havip-a1\"\n",
    )
    .to_string();
    assert!(
        msg.contains("vip[1].havip_id") && msg.contains("vip[0]"),
        "{msg}"
    );
    let msg = error("[[vip]]\naddress = \"10.0.1.100\"\n[failover]\nhavip_bind_timeout_ms = 5\n")
        .to_string();
    assert!(msg.contains("failover.havip_bind_timeout_ms"), "{msg}");
    let msg = error(
        "[[vip]]\naddress = \"10.0.1.100\"\nkind = \"havip\"\nhavip_id = \"havip-a1\"\n[failover]\ndeadline_s = 5\nhavip_bind_timeout_ms = 5000\n",
    )
    .to_string();
    assert!(
        msg.contains("failover.havip_bind_timeout_ms") && msg.contains("below failover.deadline_s"),
        "{msg}"
    );
    // Without a HAVIP the setting is not used, and not held against the deadline.
    assert!(parse("[[vip]]\naddress = \"10.0.1.100\"\n[failover]\ndeadline_s = 5\nhavip_bind_timeout_ms = 5000\n").is_ok());
}
