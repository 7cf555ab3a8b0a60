//! Output policy, decided once per run: results on stdout, diagnostics on stderr,
//! progress bars only on a terminal and never with `--quiet`, colour only when allowed.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub quiet: bool,
    /// Draw progress bars (stderr is a terminal and not quiet).
    pub progress: bool,
    /// Colour allowed (terminal, and `NO_COLOR` unset).
    pub color: bool,
    /// `-v`: progress shows the throttle's window and rate too.
    pub verbose: bool,
}

impl Output {
    pub fn detect(quiet: bool, verbose: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        Output {
            quiet,
            progress: tty && !quiet,
            color: tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            verbose,
        }
    }

    /// Whether progress should carry the details `-v` asks for.
    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// A quiet policy for tests and library users.
    pub fn silent() -> Self {
        Output {
            quiet: true,
            progress: false,
            color: false,
            verbose: false,
        }
    }

    /// A progress bar on stderr, or a hidden one that costs nothing.
    pub fn bar(&self, len: u64, what: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix:>10} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// A spinner for a step of unknown length (hidden unless progress is shown).
    pub fn spinner(&self, what: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// A result line, on stdout (suppressed by nothing: it is what the user asked for).
    pub fn result(&self, line: &str) {
        println!("{line}");
    }

    /// A diagnostic on stderr (warnings, hints), suppressed by `--quiet`.
    pub fn note(&self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    /// An error on stderr; always shown.
    pub fn error(&self, line: &str) {
        if self.color {
            eprintln!("\x1b[31merror:\x1b[0m {line}");
        } else {
            eprintln!("error: {line}");
        }
    }
}
