//! Terminal styling. Everything goes through `anstream`, which drops the escape codes
//! when the stream is not a terminal, when `NO_COLOR` is set, or under `--color never`
//! (and keeps them under `CLICOLOR_FORCE` or `--color always`).

use anstyle::{AnsiColor, Style};

pub const OK: Style = AnsiColor::Green.on_default().bold();
pub const BAD: Style = AnsiColor::Red.on_default().bold();
pub const WARN: Style = AnsiColor::Yellow.on_default().bold();
pub const HEADING: Style = Style::new().bold();
pub const DIM: Style = Style::new().dimmed();

/// `text` wrapped in `style`'s escape codes (stripped later when colour is off).
pub fn paint(style: Style, text: impl std::fmt::Display) -> String {
    format!("{style}{text}{style:#}")
}
