//! How states look: a symbol for each (so that colour is never the only sign), a
//! colour unless `NO_COLOR` is set, and plain ASCII for terminals without Unicode.

use ratatui::style::{Color, Modifier, Style};

/// The console's look, chosen once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
    pub ascii: bool,
}

impl Default for Theme {
    fn default() -> Self {
        Self {
            color: true,
            ascii: false,
        }
    }
}

/// What a state means to the person looking at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Busy,
    Waiting,
    Idle,
    Muted,
}

impl Tone {
    /// The tone of a run's or a step's status, as drctl writes them.
    pub fn of(status: &str) -> Self {
        match status {
            "succeeded" | "ok" | "ready" | "started" => Tone::Good,
            "failed"
            | "cancelled"
            | "timed_out"
            | "interrupted"
            | "overdue"
            | "compensation_failed" => Tone::Bad,
            "running" | "compensating" | "verifying" | "retrying" | "sleeping" => Tone::Busy,
            "waiting" | "paused" | "awaiting approval" | "due" | "stale" | "proposed"
            | "created" => Tone::Waiting,
            "skipped" | "waived" | "compensated" => Tone::Muted,
            _ => Tone::Idle,
        }
    }
}

impl Theme {
    /// The symbol of a status: one column wide in both sets.
    pub fn symbol(self, status: &str) -> &'static str {
        let (unicode, ascii) = match Tone::of(status) {
            Tone::Good => ("✓", "+"),
            Tone::Bad => ("✗", "x"),
            Tone::Busy => ("▶", ">"),
            Tone::Waiting => ("⏸", "="),
            Tone::Muted => ("↷", "~"),
            Tone::Idle => ("·", "."),
        };
        if self.ascii { ascii } else { unicode }
    }

    /// The style of a status.
    pub fn status(self, status: &str) -> Style {
        self.tone(Tone::of(status))
    }

    pub fn tone(self, tone: Tone) -> Style {
        if !self.color {
            return match tone {
                Tone::Bad | Tone::Busy => Style::default().add_modifier(Modifier::BOLD),
                _ => Style::default(),
            };
        }
        let color = match tone {
            Tone::Good => Color::Green,
            Tone::Bad => Color::Red,
            Tone::Busy => Color::Cyan,
            Tone::Waiting => Color::Yellow,
            Tone::Muted | Tone::Idle => Color::Gray,
        };
        Style::default().fg(color)
    }

    /// The selected row.
    pub fn selected(self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    /// Headings and keys.
    pub fn strong(self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    /// The progress bar's filled and empty parts.
    pub fn bar(self) -> (&'static str, &'static str) {
        if self.ascii {
            ("#", "-")
        } else {
            ("█", "░")
        }
    }

    /// A horizontal rule.
    pub fn rule(self) -> &'static str {
        if self.ascii { "-" } else { "─" }
    }
}
