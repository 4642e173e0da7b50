//! Finding and opening tcvip.toml as a user meets it: `--config`, then `$TCVIP_CONFIG`, then the
//! default path; a file holding secrets must be its owner's alone; secrets never in `Debug`.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tcvip::config::{Config, ConfigError, LoadOptions};

use crate::config::{MINIMAL, parse};

fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn opts(env: Option<&Path>, owner: u32) -> LoadOptions {
    LoadOptions {
        config_env: env.map(|p| OsString::from(p.as_os_str())),
        secret_owner_uid: owner,
    }
}

#[test]
fn load_prefers_flag_then_env() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.toml", MINIMAL, 0o644);
    let b = write(
        dir.path(),
        "b.toml",
        "[[vip]]\naddress = \"10.0.9.9\"\n",
        0o644,
    );
    let c = Config::load_with(Some(&a), &opts(Some(&b), 0)).unwrap();
    assert_eq!(
        (c.path.as_path(), c.vips[0].address),
        (a.as_path(), Ipv4Addr::new(10, 0, 1, 100))
    );
    let c = Config::load_with(None, &opts(Some(&b), 0)).unwrap();
    assert_eq!(
        (c.path.as_path(), c.vips[0].address),
        (b.as_path(), Ipv4Addr::new(10, 0, 9, 9))
    );

    let missing = dir.path().join("missing.toml");
    let e = Config::load_with(None, &opts(Some(&missing), 0)).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("missing.toml") && msg.contains("$TCVIP_CONFIG"),
        "{msg}"
    );
}

const WITH_SECRETS: &str = "[credentials]\nsource = \"file\"\nsecret_id = \"AKIDexample\"\nsecret_key = \"s3cr3t-value-do-not-log\"\n\
                            [[vip]]\naddress = \"10.0.1.100\"\n";

#[test]
fn secrets_need_an_owner_only_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "tcvip.toml", WITH_SECRETS, 0o644);
    let me = std::fs::metadata(&p).unwrap().uid();

    // Right owner, but group and others may read it.
    let e = Config::load_with(Some(&p), &opts(None, me)).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ConfigError::InsecureSecretFile { .. }), "{msg}");
    assert!(
        msg.contains("credentials.secret_key") && msg.contains("mode 0644"),
        "{msg}"
    );
    assert!(msg.contains(&format!("chmod 600 {}", p.display())), "{msg}");

    // 0600 and the expected owner: accepted.
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = Config::load_with(Some(&p), &opts(None, me)).unwrap();
    assert_eq!(
        c.credentials.secret_key.as_ref().unwrap().expose(),
        "s3cr3t-value-do-not-log"
    );

    // 0600 but owned by someone other than the expected owner: refused, saying who owns it.
    let other = me.wrapping_add(1);
    let e = Config::load_with(Some(&p), &opts(None, other)).unwrap_err();
    assert!(e.to_string().contains(&format!("owned by uid {me}")), "{e}");

    // Production rule: root. The message names the full fix.
    if me != 0 {
        let e = Config::load_with(Some(&p), &opts(None, 0)).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("chown root:root {} && chmod 600", p.display())),
            "{e}"
        );
    }

    // A file without secrets may be world-readable.
    let plain = write(dir.path(), "plain.toml", MINIMAL, 0o644);
    assert!(Config::load_with(Some(&plain), &opts(None, other)).is_ok());
}

#[test]
fn debug_output_never_shows_secrets() {
    let c = parse(WITH_SECRETS).unwrap();
    let dbg = format!("{c:?} {:?}", c.credentials);
    assert!(!dbg.contains("s3cr3t-value-do-not-log"), "{dbg}");
    assert!(!dbg.contains("AKIDexample"), "{dbg}");
}
