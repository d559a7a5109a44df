//! The help screen, generated from the key map.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::keys::KEYS;
use crate::state::App;

pub(super) fn draw(f: &mut Frame<'_>, area: Rect, app: &App) {
    let mut lines = Vec::new();
    let mut scope = "";
    for (s, key, what) in KEYS {
        if *s != scope {
            lines.push(Line::from(Span::styled(
                format!("{s}:"),
                app.theme.strong(),
            )));
            scope = s;
        }
        let key = if app.theme.ascii {
            key.replace('↑', "Up").replace('↓', "Down")
        } else {
            (*key).to_owned()
        };
        lines.push(Line::from(format!("  {key:<10} {what}")));
    }
    if app.read_only {
        lines.push(Line::from("read-only: the keys that act are off"));
    }
    f.render_widget(Paragraph::new(lines), area);
}
