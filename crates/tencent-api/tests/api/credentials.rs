//! Credential providers: chain order, profile format, CVM role caching and refresh.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tencent_api::credentials::{
    CredentialError, CredentialProvider, Credentials, CvmRoleCredentials, DefaultChain,
    EnvCredentials, EnvLookup, ProfileCredentials,
};
use tencent_api::metadata::MetadataClient;
use tencent_api::{Clock, ManualClock};

use crate::stub::{Reply, Stub};

const T0: i64 = 1_700_000_000;

fn env(pairs: &[(&str, &str)]) -> EnvCredentials {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let lookup: EnvLookup = Arc::new(move |k| map.get(k).cloned());
    EnvCredentials::from_lookup(lookup)
}

/// Writes a profile file private to its owner, as a real one must be.
fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// A metadata service with one role whose credentials expire at `expires()`; each fetch of the
/// credentials hands out a new id so refreshes are visible.
struct RoleService {
    stub: Stub,
    fetches: Arc<AtomicUsize>,
    /// While set, the metadata service answers 500.
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl RoleService {
    fn start(expired_time: i64, code: &'static str) -> RoleService {
        let fetches = Arc::new(AtomicUsize::new(0));
        let counter = fetches.clone();
        let down = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let is_down = down.clone();
        let stub = Stub::start(move |r| match r.target.as_str() {
            _ if is_down.load(Ordering::SeqCst) => Reply::text(500, "unavailable"),
            "/latest/meta-data/cam/security-credentials/" => Reply::text(200, "tcvip-role\n"),
            "/latest/meta-data/cam/security-credentials/tcvip-role" => {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                Reply::json(format!(
                    r#"{{"TmpSecretId":"AKIDtmp{n}","TmpSecretKey":"tmp-key-{n}","ExpiredTime":{expired_time},"Expiration":"x","Token":"token-{n}","Code":"{code}"}}"#
                ))
            }
            _ => Reply::text(404, "not found"),
        });
        RoleService {
            stub,
            fetches,
            down,
        }
    }

    fn metadata(&self) -> MetadataClient {
        MetadataClient::new(
            format!("{}latest/meta-data/", self.stub.url()),
            Duration::from_secs(5),
        )
    }

    fn provider(&self, clock: Arc<dyn Clock>) -> CvmRoleCredentials {
        CvmRoleCredentials::new(self.metadata()).with_clock(clock)
    }
}

#[test]
fn chain_prefers_env_then_profile_then_role() {
    let dir = tempfile::tempdir().unwrap();
    let profile = write(
        dir.path(),
        "credentials",
        "[default]\nsecret_id = AKIDprofile\nsecret_key = profile-key\n",
    );
    let missing = dir.path().join("missing");
    let role = RoleService::start(T0 + 3600, "Success");
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(T0));
    let chain = |env: EnvCredentials, profile: &Path| {
        DefaultChain::new(vec![
            Box::new(env),
            Box::new(ProfileCredentials::with_path(profile)),
            Box::new(role.provider(clock.clone())),
        ])
    };
    let full_env = env(&[
        ("TENCENTCLOUD_SECRET_ID", "AKIDenv"),
        ("TENCENTCLOUD_SECRET_KEY", "env-key"),
    ]);

    let c = chain(full_env, &profile);
    let (creds, source) = c.credentials_with_source().unwrap();
    assert_eq!(creds, Credentials::new("AKIDenv", "env-key"));
    assert!(source.contains("environment"), "{source}");
    assert_eq!(role.stub.count(), 0);

    let c = chain(env(&[]), &profile);
    assert_eq!(
        c.credentials().unwrap(),
        Credentials::new("AKIDprofile", "profile-key")
    );
    assert!(c.last_source().unwrap().contains("profile"));
    assert_eq!(role.stub.count(), 0);

    let c = chain(env(&[]), &missing);
    let creds = c.credentials().unwrap();
    assert_eq!(creds.secret_id, "AKIDtmp0");
    assert_eq!(creds.token.as_deref(), Some("token-0"));
    assert!(c.last_source().unwrap().contains("CVM role"));
}

#[test]
fn chain_failure_lists_every_source_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let profile = write(
        dir.path(),
        "credentials",
        "[default]\nsecret_key = SUPERSECRET\n",
    );
    let no_role = Stub::start(|_| Reply::text(404, "no role"));
    let chain = DefaultChain::new(vec![
        Box::new(env(&[("TENCENTCLOUD_SECRET_KEY", "ENVSECRET")])),
        Box::new(ProfileCredentials::with_path(&profile)),
        Box::new(CvmRoleCredentials::new(MetadataClient::new(
            no_role.url(),
            Duration::from_secs(5),
        ))),
    ]);
    let e = chain.credentials().unwrap_err();
    let CredentialError::Chain { tried } = &e else {
        panic!("expected a chain error, got {e:?}");
    };
    assert_eq!(tried.len(), 3);
    assert!(matches!(tried[2].1, CredentialError::RoleName(ref m) if m.is_not_found()));
    let text = format!("{e} {e:?}");
    for part in [
        "TENCENTCLOUD_SECRET_ID",
        &profile.display().to_string(),
        "no secret_id",
        "CVM role",
        "404",
    ] {
        assert!(text.contains(part), "{part} missing from {text}");
    }
    assert!(
        !text.contains("SUPERSECRET") && !text.contains("ENVSECRET"),
        "{text}"
    );
    assert!(!e.is_transient());
}

#[test]
fn profile_file_format() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(
        dir.path(),
        "ok",
        "\n[default]\n\tsecret_id=  AKIDspaced  \nsecret_key =\tkey with inner space \n",
    );
    assert_eq!(
        ProfileCredentials::with_path(&ok).credentials().unwrap(),
        Credentials::new("AKIDspaced", "key with inner space")
    );

    let no_key = write(dir.path(), "no_key", "[default]\nsecret_id = AKID1\n");
    let e = ProfileCredentials::with_path(&no_key)
        .credentials()
        .unwrap_err();
    assert!(matches!(e, CredentialError::ProfileFormat { .. }), "{e:?}");
    assert!(e.to_string().contains("secret_key"), "{e}");

    let other_section = write(dir.path(), "other", "[prod]\nsecret_id=a\nsecret_key=b\n");
    let e = ProfileCredentials::with_path(&other_section)
        .credentials()
        .unwrap_err();
    assert!(e.to_string().contains("[default]"), "{e}");

    let missing = dir.path().join("nope");
    let e = ProfileCredentials::with_path(&missing)
        .credentials()
        .unwrap_err();
    assert!(
        matches!(e, CredentialError::ProfileNotFound { .. }),
        "{e:?}"
    );
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );

    let e = ProfileCredentials::with_path(dir.path())
        .credentials()
        .unwrap_err();
    assert!(matches!(e, CredentialError::ProfileIo { .. }), "{e:?}");
}

#[test]
fn profile_search_takes_the_first_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let second = write(
        dir.path(),
        "second",
        "[default]\nsecret_id=AKID2\nsecret_key=k2\n",
    );
    let third = write(
        dir.path(),
        "third",
        "[default]\nsecret_id=AKID3\nsecret_key=k3\n",
    );
    let p = ProfileCredentials::with_candidates(vec![dir.path().join("first"), second, third]);
    assert_eq!(p.credentials().unwrap().secret_id, "AKID2");
}

#[test]
fn cvm_role_is_cached_while_more_than_300s_remain_and_refetched_after() {
    let role = RoleService::start(T0 + 1000, "Success");
    let clock = Arc::new(ManualClock::new(T0));
    let p = role.provider(clock.clone());

    let first = p.credentials().unwrap();
    assert_eq!(first.secret_id, "AKIDtmp0");
    assert_eq!(first.token.as_deref(), Some("token-0"));
    assert_eq!(role.stub.count(), 2, "role name, then credentials");

    clock.set(T0 + 699); // 301 s left: still cached
    assert_eq!(p.credentials().unwrap(), first);
    assert_eq!(role.fetches.load(Ordering::SeqCst), 1);

    clock.set(T0 + 700); // 300 s left: refresh
    assert_eq!(p.credentials().unwrap().secret_id, "AKIDtmp1");
    assert_eq!(role.fetches.load(Ordering::SeqCst), 2);
    assert_eq!(role.stub.count(), 3, "the role name is remembered");

    p.invalidate();
    assert_eq!(p.credentials().unwrap().secret_id, "AKIDtmp2");
    let format = format!("{p:?} {:?}", p.credentials().unwrap());
    assert!(
        !format.contains("tmp-key") && !format.contains("token-"),
        "{format}"
    );
}

#[test]
fn cvm_role_keys_still_valid_survive_a_failed_refresh() {
    let role = RoleService::start(T0 + 1000, "Success");
    let clock = Arc::new(ManualClock::new(T0));
    let p = role.provider(clock.clone());
    let first = p.credentials().unwrap();

    role.down.store(true, Ordering::SeqCst);
    clock.set(T0 + 800); // 200 s left: a refresh is due, fails, and the cached keys still sign
    assert_eq!(p.credentials().unwrap(), first);
    clock.set(T0 + 975); // 25 s left: too close to expiry, the failure shows
    assert!(p.credentials().is_err());

    role.down.store(false, Ordering::SeqCst);
    assert_eq!(p.credentials().unwrap().secret_id, "AKIDtmp1");
}

#[test]
fn cvm_role_reply_other_than_success_is_an_error_without_secrets() {
    let role = RoleService::start(T0 + 1000, "Failed");
    let e = role
        .provider(Arc::new(ManualClock::new(T0)))
        .credentials()
        .unwrap_err();
    assert!(matches!(e, CredentialError::RoleReply { .. }), "{e:?}");
    let text = format!("{e} {e:?}");
    assert!(
        text.contains("Failed") && text.contains("tcvip-role"),
        "{text}"
    );
    assert!(
        !text.contains("tmp-key") && !text.contains("token-"),
        "{text}"
    );
}

#[test]
fn cvm_role_unreachable_metadata_is_transient() {
    let port = crate::stub::refused_port();
    let p = CvmRoleCredentials::new(MetadataClient::new(
        format!("http://127.0.0.1:{port}/"),
        Duration::from_secs(2),
    ));
    let e = p.credentials().unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    let as_api = tencent_api::Error::from(e);
    assert_eq!(as_api.retry_class(), tencent_api::RetryClass::Backoff);
}

#[test]
fn cvm_role_garbled_replies_are_transient_and_a_json_refusal_is_not() {
    // Issue 10 item 5: a non-UTF-8 or non-JSON reply is a fault of that exchange, retried like
    // a 500 or a drop; a JSON reply whose Code is not Success is an answer.
    for (listing, reply, transient) in [
        (b"\xff\xfe\x00tcvip-role".to_vec(), b"{}".to_vec(), true),
        (
            b"tcvip-role\n".to_vec(),
            b"\xff\xfe{\"Code\"".to_vec(),
            true,
        ),
        (
            b"tcvip-role\n".to_vec(),
            b"<html>oops</html>".to_vec(),
            true,
        ),
        (
            b"tcvip-role\n".to_vec(),
            br#"{"Code":"Failure"}"#.to_vec(),
            false,
        ),
    ] {
        let (l, r) = (listing.clone(), reply.clone());
        let stub = Stub::start(move |req| match req.target.as_str() {
            "/cam/security-credentials/" => Reply::Full(200, "text/plain", l.clone()),
            "/cam/security-credentials/tcvip-role" => {
                Reply::Full(200, "application/json", r.clone())
            }
            _ => Reply::text(404, "not found"),
        });
        let p = CvmRoleCredentials::new(MetadataClient::new(stub.url(), Duration::from_secs(5)));
        let e = p.credentials().unwrap_err();
        assert_eq!(e.is_transient(), transient, "{listing:?} {reply:?}: {e:?}");
        let class = tencent_api::Error::from(e).retry_class();
        let expected = if transient {
            tencent_api::RetryClass::Backoff
        } else {
            tencent_api::RetryClass::Fatal
        };
        assert_eq!(class, expected);
    }
}

#[test]
fn a_profile_file_others_can_read_is_refused_and_ends_the_chain() {
    // Issue 10 item 12: refused like a tcvip.toml with keys, naming the fix.
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "credentials",
        "[default]\nsecret_id = AKIDprofile\nsecret_key = profile-secret\n",
    );
    for mode in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let e = ProfileCredentials::with_path(&path)
            .credentials()
            .unwrap_err();
        let text = e.to_string();
        assert!(e.is_config() && !e.is_transient(), "{mode:o}: {e:?}");
        assert!(text.contains(&format!("{mode:04o}")), "{text}");
        assert!(text.contains("chmod 600"), "{text}");
        assert!(!text.contains("profile-secret"), "{text}");
        // The CVM role after it is not tried: the problem is not hidden.
        let chain = DefaultChain::new(vec![
            Box::new(env(&[])),
            Box::new(ProfileCredentials::with_path(&path)),
            Box::new(tencent_api::credentials::StaticCredentials::new(
                Credentials::new("AKIDlater", "k"),
            )),
        ]);
        let e = chain.credentials().unwrap_err();
        assert!(e.is_config(), "{e:?}");
        assert_eq!(
            tencent_api::Error::from(e).retry_class(),
            tencent_api::RetryClass::Fatal
        );
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = ProfileCredentials::with_path(&path).credentials().unwrap();
    assert_eq!(c.secret_id, "AKIDprofile");
}
