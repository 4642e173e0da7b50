//! The man pages agree with what the binaries accept: tcvip.toml(5) documents every key the
//! configuration parser accepts, in its section; each binary's page and completions come from
//! its own clap definition; the list of packaged binaries is the tcvip crate's binaries.

use std::collections::BTreeSet;
use std::path::Path;

use tcvip_docs::{BINARIES, TCVIP_TOML_5};

const VIP: &str = "[[vip]]\naddress = \"10.0.1.100\"\n";
const UNKNOWN: &str = "zz_not_a_key";

/// The keys the parser accepts where `zz_not_a_key` sits in `toml`, read from its
/// unknown-key error ("expected one of `a`, `b`").
fn accepted(toml: &str) -> BTreeSet<String> {
    let err = tcvip::config::Config::from_toml_str(toml, Path::new("/t/tcvip.toml"))
        .err()
        .unwrap_or_else(|| panic!("an unknown key was accepted in:\n{toml}"))
        .to_string();
    let tail = err
        .split_once("expected")
        .unwrap_or_else(|| panic!("no list of expected keys in: {err}"))
        .1;
    let keys: BTreeSet<String> = tail
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert!(!keys.is_empty(), "no keys parsed from: {err}");
    keys
}

/// The text of the man page's section whose heading contains `heading` (up to the next .SH).
fn section(heading: &str) -> &'static str {
    TCVIP_TOML_5
        .split("\n.SH ")
        .find(|s| s.lines().next().is_some_and(|h| h.contains(heading)))
        .unwrap_or_else(|| panic!("tcvip.toml(5) has no section {heading}"))
}

fn documented(text: &str, key: &str) -> bool {
    text.contains(&format!(".TP\n\\fB{key}\\fR\n"))
}

#[test]
fn tcvip_toml_5_documents_every_key_the_parser_accepts() {
    let top = accepted(&format!("{UNKNOWN} = 1\n{VIP}"));
    let mut missing = Vec::new();
    let mut checked = 0;
    for table in &top {
        let (heading, toml) = if table == "vip" {
            (
                "[[vip]]".to_owned(),
                format!("[[vip]]\naddress = \"10.0.1.100\"\n{UNKNOWN} = 1\n"),
            )
        } else {
            (
                format!("[{table}]"),
                format!("{VIP}[{table}]\n{UNKNOWN} = 1\n"),
            )
        };
        let text = section(&heading);
        for key in accepted(&toml) {
            checked += 1;
            if !documented(text, &key) {
                missing.push(format!("{table}.{key}"));
            }
        }
    }
    // The tables inside a key: check.service_checks entries.
    let nested = accepted(&format!(
        "{VIP}[check]\nservice_checks = [{{ argv = [\"true\"], {UNKNOWN} = 1 }}]\n"
    ));
    for key in nested {
        checked += 1;
        if !documented(section("[check]"), &key) {
            missing.push(format!("check.service_checks[].{key}"));
        }
    }
    assert!(
        checked >= 20,
        "only {checked} keys found: the probe no longer reads the parser"
    );
    assert!(
        missing.is_empty(),
        "keys the parser accepts but tcvip.toml(5) does not document: {missing:?}"
    );
}

#[test]
fn the_packaged_binaries_are_the_tcvip_crates_binaries() {
    let bin_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tcvip/src/bin");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&bin_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", bin_dir.display()))
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".rs")
                .map(str::to_owned)
        })
        .collect();
    let listed: BTreeSet<String> = BINARIES.iter().map(|b| b.name.to_owned()).collect();
    assert_eq!(
        listed, on_disk,
        "tcvip_docs::BINARIES must list exactly the binaries in crates/tcvip/src/bin (one line per binary)"
    );
}

#[test]
fn each_page_and_completion_comes_from_the_binarys_own_options() {
    for b in BINARIES {
        let cmd = (b.command)();
        assert_eq!(cmd.get_name(), b.name, "the clap name is the binary's name");
        let page =
            String::from_utf8(tcvip_docs::man_page(b).unwrap_or_default()).unwrap_or_default();
        assert!(page.starts_with(".ie"), "{}: not roff", b.name);
        let bash = String::from_utf8(tcvip_docs::completion(b, clap_complete::Shell::Bash))
            .unwrap_or_default();
        let zsh = String::from_utf8(tcvip_docs::completion(b, clap_complete::Shell::Zsh))
            .unwrap_or_default();
        assert!(
            zsh.starts_with(&format!("#compdef {}", b.name)),
            "{}: zsh header",
            b.name
        );
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long() {
                // clap_mangen escapes '-' as "\-".
                let roff = format!("\\-\\-{}", long.replace('-', "\\-"));
                assert!(page.contains(&roff), "{}: man page lacks --{long}", b.name);
                assert!(
                    bash.contains(&format!("--{long}")),
                    "{}: bash lacks --{long}",
                    b.name
                );
            }
        }
        assert!(
            page.contains("tcvip.toml\\fR(5)"),
            "{}: SEE ALSO tcvip.toml(5)",
            b.name
        );
    }
}

#[test]
fn each_page_refers_to_every_other_packaged_binary() {
    for b in BINARIES {
        let page =
            String::from_utf8(tcvip_docs::man_page(b).unwrap_or_default()).unwrap_or_default();
        let see_also = page.split(".SH \"SEE ALSO\"").nth(1).unwrap_or_default();
        for other in BINARIES.iter().filter(|o| o.name != b.name) {
            let roff = format!("\\fB{}\\fR(1)", other.name.replace('-', "\\-"));
            assert!(
                see_also.contains(&roff),
                "{}: SEE ALSO lacks {}",
                b.name,
                other.name
            );
        }
    }
}

/// Each page lists the exit codes its binary returns, as `--help` does: check-self's are not
/// vip-migrate's.
#[test]
#[allow(clippy::unwrap_used, clippy::expect_used)]
fn each_page_lists_its_own_exit_codes() {
    let page = |name: &str| {
        let b = BINARIES.iter().find(|b| b.name == name).unwrap();
        String::from_utf8(tcvip_docs::man_page(b).unwrap()).unwrap()
    };
    let codes = |text: &str| -> Vec<u8> {
        let table = text.split("Exit codes:").nth(1).expect("no exit codes");
        table
            .lines()
            .skip(1)
            .map_while(|l| l.trim_start().split_once("  ")?.0.parse().ok())
            .collect()
    };
    assert_eq!(codes(&page("check-self")), [0, 1, 2, 78]);
    assert_eq!(codes(&page("vip-migrate")), [0, 1, 2, 3, 4, 77, 78]);
    assert_eq!(codes(&page("vip-query")), [0, 1, 2, 3, 77, 78]);
    assert_eq!(codes(&page("notify-action")), [0, 1, 2, 78]);
}
