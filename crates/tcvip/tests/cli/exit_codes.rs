//! The exit codes users script against: the README's table says what `exit.rs` says, and each
//! binary's `--help` lists the codes that binary returns.

use std::process::Command;

use tcvip::exit::Exit;

use crate::util::*;

/// The rows of the README's "## Exit codes" table: code, meaning, `tcvip doctor` column.
fn readme_rows() -> Vec<(u8, String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let section = readme
        .split("\n## Exit codes\n")
        .nth(1)
        .expect("README has no \"## Exit codes\" section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .strip_prefix('|')?
                .strip_suffix('|')?
                .split('|')
                .map(str::trim)
                .collect();
            let code = cells.first()?.parse::<u8>().ok()?;
            assert_eq!(cells.len(), 3, "README exit-code row: {line}");
            Some((code, cells[1].replace('`', ""), cells[2].to_owned()))
        })
        .collect()
}

#[test]
fn the_readme_exit_code_table_is_the_one_in_exit_rs() {
    let rows = readme_rows();
    let codes: Vec<u8> = rows.iter().map(|r| r.0).collect();
    let ours: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
    assert_eq!(codes, ours, "the README's codes are not exit.rs's");
    for (code, meaning, _) in &rows {
        let exit = Exit::from_code(i32::from(*code)).unwrap();
        assert_eq!(
            meaning,
            exit.description(),
            "README row {code} differs from Exit::{exit:?}.description()"
        );
    }
    // tcvip doctor's column: its four monitoring-plugin codes, and nothing past 3.
    let doctor: Vec<(u8, bool)> = rows.iter().map(|r| (r.0, r.2 != "—")).collect();
    assert_eq!(
        doctor,
        [
            (0, true),
            (1, true),
            (2, true),
            (3, true),
            (4, false),
            (77, false),
            (78, false)
        ]
    );
}

/// The codes a `--help` lists under "Exit codes:", each with a meaning.
fn help_codes(binary: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(bin(binary))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{binary} --help: {out:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    let table = help
        .split("Exit codes:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{binary} --help lists no exit codes:\n{help}"));
    table
        .lines()
        .map_while(|line| {
            let (code, meaning) = line.trim_start().split_once("  ")?;
            let code = code.parse::<u8>().ok()?;
            assert!(
                !meaning.trim().is_empty(),
                "{binary}: code {code} says nothing"
            );
            Some(code)
        })
        .collect()
}

#[test]
fn each_binary_help_lists_the_codes_that_binary_returns() {
    let cases: [(&str, &[&str], &[u8]); 5] = [
        ("notify-action", &[], &[0, 1, 2, 78]),
        ("vip-migrate", &[], &[0, 1, 2, 3, 4, 77, 78]),
        ("vip-query", &[], &[0, 1, 2, 3, 77, 78]),
        // A track script: keepalived only tells zero from non-zero; it never waits on the
        // cloud (no 3 or 77) and never moves the VIP itself (no 4).
        ("check-self", &[], &[0, 1, 2, 78]),
        ("tcvip", &["cam-policy"], &[0, 1, 2, 78]),
    ];
    for (binary, args, expected) in cases {
        assert_eq!(
            help_codes(binary, args),
            expected,
            "{binary} {args:?} --help"
        );
    }
}
