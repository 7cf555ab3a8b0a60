//! `m365-photos generate man|complete-bash|complete-zsh|complete-fish|complete-powershell`:
//! the man page and shell completions, made from the clap definitions themselves so that
//! the shipped ones never drift from the real flags (as ripgrep ships its own).

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use super::args::{Cli, GenerateKind};
use crate::config::exit;

/// Writes `kind` to `out`.
pub(crate) fn write(kind: GenerateKind, out: &mut dyn Write) -> std::io::Result<()> {
    let mut cmd = Cli::command();
    let shell = match kind {
        GenerateKind::Man => return man(cmd, out),
        GenerateKind::CompleteBash => Shell::Bash,
        GenerateKind::CompleteZsh => Shell::Zsh,
        GenerateKind::CompleteFish => Shell::Fish,
        GenerateKind::CompletePowershell => Shell::PowerShell,
    };
    clap_complete::generate(shell, &mut cmd, "m365-photos", out);
    Ok(())
}

/// The top-level page, then each command's options under a heading of its own (a
/// top-level page alone would leave out every flag that matters).
fn man(cmd: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(cmd.clone()).render(out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_name().to_uppercase();
        let mut buf = Vec::new();
        clap_mangen::Man::new(sub.clone()).render_options_section(&mut buf)?;
        let text = String::from_utf8_lossy(&buf).replacen(
            ".SH OPTIONS",
            &format!(".SH \"{name} OPTIONS\""),
            1,
        );
        if let Some(about) = sub.get_about() {
            writeln!(out, ".SH \"{name}\"\n{about}")?;
        }
        out.write_all(text.as_bytes())?;
    }
    Ok(())
}

/// Prints `kind` on stdout; a closed pipe or full disk is exit 1, not a panic.
pub(crate) fn print(kind: GenerateKind) -> i32 {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    match write(kind, &mut lock).and_then(|()| lock.flush()) {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: generate: {e}");
            exit::SOME_FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_output_names_the_commands() {
        for kind in [
            GenerateKind::Man,
            GenerateKind::CompleteBash,
            GenerateKind::CompleteZsh,
            GenerateKind::CompleteFish,
            GenerateKind::CompletePowershell,
        ] {
            let mut buf = Vec::new();
            write(kind, &mut buf).unwrap();
            // roff escapes every hyphen (`lock\-status`).
            let text = String::from_utf8(buf).unwrap().replace('\\', "");
            assert!(text.contains("upload"), "{kind:?}");
            assert!(text.contains("lock-status"), "{kind:?}");
        }
    }
}
