//! The packaged binaries, their man pages and their shell completions, all derived from the
//! binaries' clap definitions (the same source as `--help`).
//!
//! [`BINARIES`] is the one list of what a package or tarball ships: `scripts/dist.sh` reads it
//! (`tcvip-docs list`), builds exactly these, and lays out pages and completions for each.
//! Adding a binary is one line there (its `Args` must be reachable from the `tcvip` library).
//! `tcvip.toml(5)` is hand-written roff (`packaging/man/tcvip.toml.5`), kept honest by a test
//! that every key the configuration parser accepts is documented in it.

use std::io::Write as _;
use std::path::Path;

use clap::CommandFactory as _;
use tcvip::exit::Tool;

/// One binary a package ships.
#[derive(Debug)]
pub struct Binary {
    /// The executable's name (and its man page's).
    pub name: &'static str,
    /// Its clap definition, exactly what the binary parses.
    pub command: fn() -> clap::Command,
}

/// Every binary a package ships, in `/usr/bin`, in this order.
pub const BINARIES: &[Binary] = &[
    Binary {
        name: "notify-action",
        command: || tcvip::cli::command::<tcvip::notify::Args>(Tool::NotifyAction),
    },
    Binary {
        name: "vip-migrate",
        command: || tcvip::cli::command::<tcvip::migrate::Args>(Tool::VipMigrate),
    },
    Binary {
        name: "vip-query",
        command: || tcvip::cli::command::<tcvip::query::Args>(Tool::VipQuery),
    },
    Binary {
        name: "check-self",
        command: || tcvip::cli::command::<tcvip::check::Args>(Tool::CheckSelf),
    },
    Binary {
        name: "tcvip",
        command: tcvip::operator::cli::Cli::command,
    },
];

/// `tcvip.toml(5)`, hand-written.
pub const TCVIP_TOML_5: &str = include_str!("../../../packaging/man/tcvip.toml.5");

/// The shells completions are written for, and where each one's file goes under the output
/// directory (the paths a package installs them to, under `/usr/share`).
const SHELLS: &[(clap_complete::Shell, &str, &str)] = &[
    (
        clap_complete::Shell::Bash,
        "bash-completion/completions",
        "",
    ),
    (clap_complete::Shell::Zsh, "zsh/vendor-completions", "_"),
];

/// The man page of `binary`, as roff.
pub fn man_page(binary: &Binary) -> std::io::Result<Vec<u8>> {
    let cmd = (binary.command)();
    let has_subcommands = cmd.has_subcommands();
    let man = clap_mangen::Man::new(cmd).section("1").manual("tcvip");
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    if has_subcommands {
        man.render_subcommands_section(&mut out)?;
    }
    // after_help (the exit-code table) under a heading man(7) knows.
    let mut extra = Vec::new();
    man.render_extra_section(&mut extra)?;
    let extra = String::from_utf8_lossy(&extra).replacen(".SH EXTRA", ".SH NOTES", 1);
    out.write_all(extra.as_bytes())?;
    out.write_all(COMMON_SECTIONS.as_bytes())?;
    out.write_all(see_also(binary.name).as_bytes())?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// Sections every page shares (roff).
const COMMON_SECTIONS: &str = r#".SH ENVIRONMENT
.TP
\fBTCVIP_CONFIG\fR
The configuration file when \fB\-\-config\fR is not given.
.TP
\fBTENCENTCLOUD_SECRET_ID\fR, \fBTENCENTCLOUD_SECRET_KEY\fR, \fBTENCENTCLOUD_TOKEN\fR (or \fBTENCENTCLOUD_SECURITY_TOKEN\fR)
API keys, read with credentials.source "env" or "auto".
.TP
\fBTENCENTCLOUD_CREDENTIALS_FILE\fR
The profile file, read with credentials.source "profile" or "auto".
.TP
\fBHOME\fR
keepalived's systemd unit sets no HOME, so \fI~/.tencentcloud/credentials\fR is not read when
keepalived runs this program; use the CVM role, \fI/etc/tencentcloud/credentials\fR or the
unit's environment file.
.SH FILES
.TP
\fI/etc/keepalived/tcvip.toml\fR
The configuration, see \fBtcvip.toml\fR(5).
.TP
\fI/run/tcvip\fR
State records, locks and caches (state.dir).
.TP
\fI/usr/share/doc/tcvip/examples/\fR
keepalived.conf examples that wire the binaries in.
"#;

/// SEE ALSO (roff): tcvip.toml(5), the other packaged binaries, keepalived.conf(5).
fn see_also(this: &str) -> String {
    let mut refs = vec![r"\fBtcvip.toml\fR(5)".to_owned()];
    for b in BINARIES.iter().filter(|b| b.name != this) {
        refs.push(format!(r"\fB{}\fR(1)", b.name.replace('-', r"\-")));
    }
    refs.push(r"\fBkeepalived.conf\fR(5)".to_owned());
    format!(".SH \"SEE ALSO\"\n{}\n", refs.join(",\n"))
}

/// The completion script of `binary` for `shell`.
pub fn completion(binary: &Binary, shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = (binary.command)();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, binary.name, &mut out);
    out
}

/// Writes, under `out`: `man/man1/<bin>.1` for every binary, `man/man5/tcvip.toml.5`,
/// `bash-completion/completions/<bin>` and `zsh/vendor-completions/_<bin>`.
pub fn write_all(out: &Path) -> std::io::Result<()> {
    let man1 = out.join("man/man1");
    let man5 = out.join("man/man5");
    std::fs::create_dir_all(&man1)?;
    std::fs::create_dir_all(&man5)?;
    for b in BINARIES {
        std::fs::write(man1.join(format!("{}.1", b.name)), man_page(b)?)?;
        for (shell, dir, prefix) in SHELLS {
            let dir = out.join(dir);
            std::fs::create_dir_all(&dir)?;
            std::fs::write(
                dir.join(format!("{prefix}{}", b.name)),
                completion(b, *shell),
            )?;
        }
    }
    std::fs::write(man5.join("tcvip.toml.5"), TCVIP_TOML_5)?;
    Ok(())
}
