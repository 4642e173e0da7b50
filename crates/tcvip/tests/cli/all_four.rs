//! What every binary shares: a bad configuration is exit 78 naming the key, missing credentials
//! are exit 77 naming the sources tried, secrets never reach a log, stdout, stderr or argv, and
//! `--help` explains the binary and its exit codes.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use vip_state::KeepalivedState;

use crate::util::*;

/// Each binary with arguments that get it as far as reading its configuration.
const BINARIES: [(&str, &[&str]); 4] = [
    ("notify-action", &["BACKUP"]),
    ("vip-migrate", &[]),
    ("vip-query", &[]),
    ("check-self", &[]),
];

fn edit_config(node: &Node, from: &str, to: &str) {
    let text = std::fs::read_to_string(&node.config).unwrap();
    assert!(text.contains(from), "{from:?} not in {text}");
    std::fs::write(&node.config, text.replacen(from, to, 1)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// 22: configuration errors

#[test]
fn a_bad_configuration_is_exit_78_naming_the_key() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let cases: [(&str, &str, &str); 5] = [
        // (extra config, the key the message must name, why)
        ("[check]\ndeadline = 500\n", "check.deadline", "unknown key"),
        (
            "[check]\ndeadline_ms = 5\n",
            "check.deadline_ms",
            "out of range",
        ),
        (
            "[failover]\ndeadline_s = \"soon\"\n",
            "failover.deadline_s",
            "wrong type",
        ),
        (
            "[check]\non_cloud_error = \"ignore\"\n",
            "check.on_cloud_error",
            "not one of the values",
        ),
        (
            "[[vip]]\naddress = \"198.18.1.300\"\n",
            "vip[0].address",
            "not an IPv4 address",
        ),
    ];
    for (extra, key, why) in cases {
        let node = Node::new(&fake, "ins-node0001", extra);
        for (binary, args) in BINARIES {
            let run = node.run(binary, args);
            assert_eq!(run.code, 78, "{binary} with {why}: {run:?}");
            assert!(
                run.stderr.contains(key),
                "{binary} with {why}: the message does not name {key}: {}",
                run.stderr
            );
            assert!(
                run.stderr.contains(&node.config.display().to_string()),
                "{binary}: the message does not name the file: {}",
                run.stderr
            );
        }
        // Nothing was recorded and nothing was asked.
        assert_eq!(node.state().read_state("default").seq, 0, "{why}");
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[test]
fn a_missing_configuration_file_is_exit_78_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-tcvip.toml");
    for (binary, args) in BINARIES {
        let run = run(std::process::Command::new(bin(binary))
            .arg("--config")
            .arg(&missing)
            .args(args)
            .env_remove("TCVIP_CONFIG"));
        assert_eq!(run.code, 78, "{binary}: {run:?}");
        assert!(
            run.stderr.contains(&missing.display().to_string()),
            "{binary}: {}",
            run.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 22: no credentials

#[test]
fn no_credentials_in_the_environment_is_exit_77_naming_the_variables() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(&fake, "ins-node0002", "");
    for binary in ["vip-query", "vip-migrate"] {
        let mut cmd = node.command(binary);
        cmd.env_remove("TENCENTCLOUD_SECRET_ID")
            .env_remove("TENCENTCLOUD_SECRET_KEY");
        if binary == "vip-migrate" {
            cmd.arg("--force");
        }
        let run = run(&mut cmd);
        assert_eq!(run.code, 77, "{binary}: {run:?}");
        assert!(
            run.stderr.contains("TENCENTCLOUD_SECRET_ID"),
            "{binary}: the message does not name the variables: {}",
            run.stderr
        );
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

#[test]
fn no_credentials_anywhere_is_exit_77_naming_every_source_tried() {
    // The loopback topology's instances have no CAM role: the metadata service has no
    // credentials to give, and there is no profile file and no variable either.
    let fake = start(&loopback_topology("eni-lo000002"), Duration::ZERO);
    let node = Node::new(&fake, "ins-lo000001", "");
    let _detached = Detached(&node);
    let profile = node.dir.path().join("no-credentials-file");
    edit_config(
        &node,
        "source = \"env\"\n",
        &format!(
            "source = \"auto\"\nprofile_file = \"{}\"\n",
            profile.display()
        ),
    );
    for binary in ["vip-query", "vip-migrate"] {
        let mut cmd = node.command(binary);
        cmd.env_remove("TENCENTCLOUD_SECRET_ID")
            .env_remove("TENCENTCLOUD_SECRET_KEY")
            .env("HOME", node.dir.path());
        if binary == "vip-migrate" {
            cmd.arg("--force");
        }
        let run = run(&mut cmd);
        assert_eq!(run.code, 77, "{binary}: {run:?}");
        let err = &run.stderr;
        for source in ["TENCENTCLOUD_SECRET_ID", "no-credentials-file", "CVM role"] {
            assert!(err.contains(source), "{binary}: {source} not named: {err}");
        }
        // Said once, not once per layer of the error.
        assert_eq!(
            err.matches("is not set").count(),
            1,
            "{binary}: repeated: {err}"
        );
    }
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());

    // check-self is a track script: no credentials is an unknown cloud, passed by default…
    node.record("default", KeepalivedState::Master);
    let mut cmd = node.command("check-self");
    cmd.env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .env("HOME", node.dir.path());
    let checked = run(&mut cmd);
    assert_eq!(checked.code, 0, "{checked:?}");
    assert!(node.log_text().contains("cloud_unknown"));

    // …and notify-action records and hands over to vip-migrate, which logs the refusal.
    let mut cmd = node.command("notify-action");
    cmd.arg("MASTER")
        .env_remove("TENCENTCLOUD_SECRET_ID")
        .env_remove("TENCENTCLOUD_SECRET_KEY")
        .env("HOME", node.dir.path());
    let notified = run(&mut cmd);
    assert_eq!(notified.code, 0, "{notified:?}");
    wait_detached(&node, Duration::from_secs(30));
    let log = node.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("bin=vip-migrate") && l.contains("exit=77")),
        "{log}"
    );
    assert!(writes_of(&fake).is_empty());
}

fn writes_of(fake: &fake_vpc::FakeVpcHandle) -> Vec<String> {
    fake.calls()
        .into_iter()
        .map(|c| c.action)
        .filter(|a| !a.starts_with("Describe"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 22: secrets

/// Everything a run left for a human to read.
fn texts(node: &Node, runs: &[Run]) -> String {
    let mut all = node.log_text();
    for r in runs {
        all.push_str(&r.stdout);
        all.push_str(&r.stderr);
    }
    all
}

fn assert_no_secret(all: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!all.contains(secret), "a secret leaked:\n{all}");
    }
}

#[test]
fn secrets_never_reach_logs_output_or_argv() {
    let wrong_key = "tcvipWrongSecretKey0000000000000";
    let secrets = [SECRET_KEY, wrong_key];
    let fake = start(&example("two-nodes"), Duration::from_millis(800));
    let node = Node::new(&fake, "ins-node0002", "");
    let _detached = Detached(&node);
    let mut runs = Vec::new();

    // A whole failover at debug level, with the key in the environment.
    runs.push(node.run("notify-action", &["INSTANCE", "VI_1", "MASTER", "100"]));
    // While the detached vip-migrate runs, its argv holds no secret.
    assert!(wait_for(Duration::from_secs(10), || !detached_of(&node)
        .is_empty()
        || fake.holder_of(VIP).as_deref() == Some("eni-node0002")));
    for pid in detached_of(&node) {
        let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert_no_secret(&String::from_utf8_lossy(&argv), &secrets);
    }
    wait_detached(&node, Duration::from_secs(30));
    assert_eq!(fake.holder_of(VIP).as_deref(), Some("eni-node0002"));
    runs.push(node.run("vip-migrate", &[]));
    runs.push(node.run("vip-query", &[]));
    runs.push(node.run("vip-query", &["--json"]));
    runs.push(node.run("vip-query", &["--status"]));
    runs.push(node.run("check-self", &[]));
    runs.push(node.run("vip-migrate", &["--dry-run", "--force"]));

    // A key the API refuses: exit 77, and still no key in sight.
    let mut cmd = node.command("vip-query");
    cmd.env("TENCENTCLOUD_SECRET_KEY", wrong_key);
    let refused = run(&mut cmd);
    assert_eq!(refused.code, 77, "{refused:?}");
    assert!(
        refused.stderr.contains("AuthFailure"),
        "the refusal is named: {refused:?}"
    );
    runs.push(refused);
    let mut cmd = node.command("vip-migrate");
    cmd.arg("--force").env("TENCENTCLOUD_SECRET_KEY", wrong_key);
    let refused = run(&mut cmd);
    assert_eq!(refused.code, 77, "{refused:?}");
    runs.push(refused);

    let all = texts(&node, &runs);
    assert!(
        all.contains("event=migrate_done"),
        "the run happened: {all}"
    );
    assert_no_secret(&all, &secrets);
}

#[test]
fn secrets_in_the_config_file_stay_out_of_logs_and_errors() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(&fake, "ins-node0001", "");
    let _detached = Detached(&node);
    edit_config(
        &node,
        "source = \"env\"\n",
        &format!("source = \"file\"\nsecret_id = \"{SECRET_ID}\"\nsecret_key = \"{SECRET_KEY}\"\n"),
    );
    std::fs::set_permissions(&node.config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut runs = Vec::new();
    node.record("default", KeepalivedState::Master);
    for (binary, args) in [
        ("vip-query", &[][..]),
        ("vip-query", &["--json"]),
        ("vip-query", &["--status"]),
        ("vip-migrate", &[]),
        ("vip-migrate", &["--dry-run", "--force"]),
        ("check-self", &[]),
        ("notify-action", &["MASTER"]),
    ] {
        let mut cmd = node.command(binary);
        cmd.args(args)
            .env_remove("TENCENTCLOUD_SECRET_ID")
            .env_remove("TENCENTCLOUD_SECRET_KEY");
        let r = run(&mut cmd);
        assert!(r.code == 0, "{binary} {args:?}: {r:?}");
        runs.push(r);
    }
    wait_detached(&node, Duration::from_secs(30));
    assert!(node.log_text().contains("bin=vip-migrate"));

    // A file others may read is refused, naming the key and not showing it.
    std::fs::set_permissions(&node.config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = node.run("vip-query", &[]);
    assert_eq!(r.code, 78, "{r:?}");
    assert!(r.stderr.contains("secret_key"), "{r:?}");
    runs.push(r);
    std::fs::set_permissions(&node.config, std::fs::Permissions::from_mode(0o600)).unwrap();

    // A syntax error on the secret's own line: the message points at it without quoting it.
    edit_config(
        &node,
        &format!("secret_key = \"{SECRET_KEY}\"\n"),
        &format!("secret_key = \"{SECRET_KEY}\n"),
    );
    for (binary, args) in BINARIES {
        let r = node.run(binary, args);
        assert_eq!(r.code, 78, "{binary}: {r:?}");
        runs.push(r);
    }
    // A wrong type next to it.
    edit_config(
        &node,
        &format!("secret_key = \"{SECRET_KEY}\n"),
        &format!("secret_key = [\"{SECRET_KEY}\"]\n"),
    );
    let r = node.run("vip-query", &[]);
    assert_eq!(r.code, 78, "{r:?}");
    assert!(r.stderr.contains("credentials.secret_key"), "{r:?}");
    runs.push(r);

    assert_no_secret(&texts(&node, &runs), &[SECRET_KEY]);
}

// ---------------------------------------------------------------------------------------------
// 23: --help

#[test]
fn help_explains_each_binary_and_its_exit_codes() {
    let purposes = [
        ("notify-action", "keepalived notify hook"),
        ("vip-migrate", "to this node's ENI"),
        ("vip-query", "true (here)"),
        ("check-self", "track_script"),
    ];
    for (binary, purpose) in purposes {
        for flag in ["--help", "-h"] {
            // No configuration is needed to ask for help.
            let r = run(std::process::Command::new(bin(binary))
                .arg(flag)
                .env("TCVIP_CONFIG", "/nonexistent/tcvip.toml"));
            assert_eq!(r.code, 0, "{binary} {flag}: {r:?}");
            let out = &r.stdout;
            assert!(out.contains(purpose), "{binary} {flag}: {out}");
            assert!(out.contains("--config"), "{binary} {flag}: {out}");
            // Which codes: exit_codes::each_binary_help_lists_the_codes_that_binary_returns.
            assert!(out.contains("Exit codes:"), "{binary} {flag}: {out}");
        }
    }
}

#[test]
fn role_credentials_without_metadata_are_unknown_not_refused() {
    // The CVM role's credentials come from the metadata service; when it does not answer,
    // whether credentials exist is unknown (3), unlike a definite refusal (77).
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(
        &fake,
        "ins-node0001",
        "[node]\ninstance_id = \"ins-node0001\"\neni_id = \"eni-node0001\"\nvpc_id = \"vpc-demo0001\"\n\n\
         [[vip]]\naddress = \"198.18.1.100\"\ninterface = \"lo\"\n",
    );
    edit_config(&node, "source = \"env\"\n", "source = \"cvm-role\"\n");
    fake.set_metadata_available(false);
    let run = node.run("vip-query", &[]);
    assert_eq!((run.code, run.stdout.as_str()), (3, "unknown\n"), "{run:?}");
    assert!(run.stderr.contains("CVM role"), "{run:?}");
    assert!(fake.calls().is_empty());
    // With metadata back, the role's temporary credentials work.
    fake.set_metadata_available(true);
    let run = node.run("vip-query", &[]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "true\n"), "{run:?}");
}

#[test]
fn a_bad_command_line_is_exit_2_with_usage() {
    let fake = start(&example("two-nodes"), Duration::ZERO);
    let node = Node::new(&fake, "ins-node0001", "");
    for (binary, _) in BINARIES {
        let r = node.run(binary, &["--no-such-flag"]);
        assert_eq!(r.code, 2, "{binary}: {r:?}");
        assert!(r.stderr.to_lowercase().contains("usage"), "{binary}: {r:?}");
    }
    let r = node.run("vip-query", &["--json", "--status"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = node.run("vip-query", &["--vip", "198.18.1.1000"]);
    assert_eq!(r.code, 2, "{r:?}");
    // A VIP that is not configured is a configuration matter, named.
    let r = node.run("vip-query", &["--vip", "198.18.1.10"]);
    assert_eq!(r.code, 78, "{r:?}");
    assert!(r.stderr.contains("198.18.1.10 is not configured"), "{r:?}");
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}
