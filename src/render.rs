//! Diagnostics for a terminal: `file:line:col: error: reason`, then the source line with
//! the spot underlined (drawn by miette), then any hint.

use std::fmt;
use std::io::IsTerminal;

use drctl_runbook::{Diagnostic, Severity, Source};
use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, SourceCode, SourceSpan,
    SpanContents,
};

/// Renders one diagnostic of `source`.
pub(crate) fn diagnostic(source: &Source, d: &Diagnostic, color: bool) -> String {
    let severity = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut out = format!(
        "{}:{}:{}: {severity}: {}\n",
        source.name, d.span.line, d.span.col, d.message
    );
    let label = d.hint.clone().unwrap_or_else(|| "here".to_owned());
    let len = d
        .span
        .len
        .clamp(1, 80)
        .min(source.text.len().saturating_sub(d.span.offset).max(1));
    let snippet = Snippet {
        code: NamedText {
            name: &source.name,
            text: &source.text,
        },
        label: LabeledSpan::new_with_span(Some(label), SourceSpan::new(d.span.offset.into(), len)),
    };
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let mut drawn = String::new();
    if GraphicalReportHandler::new_themed(theme)
        .with_context_lines(0)
        .render_report(&mut drawn, &snippet)
        .is_ok()
    {
        // miette starts with the message; ours is already on the first line.
        let body: Vec<&str> = drawn
            .lines()
            .skip_while(|l| !l.contains('╭') && !l.contains(",-["))
            .collect();
        for line in body {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Whether to use colour on stdout.
pub(crate) fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// A borrowed source with a name, so that snippets of large files copy nothing.
struct NamedText<'a> {
    name: &'a str,
    text: &'a str,
}

impl SourceCode for NamedText<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        // Always show whole lines: miette reads only the span itself without context.
        let start = self.text[..span.offset().min(self.text.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let end_from = (span.offset() + span.len()).min(self.text.len());
        let end = self.text[end_from..]
            .find('\n')
            .map_or(self.text.len(), |i| end_from + i);
        let whole = SourceSpan::new(start.into(), end.saturating_sub(start));
        let inner = self.text.read_span(&whole, before, after)?;
        // The header shows line and column of the contents; point it at the span itself.
        let column = self.text[start..span.offset().min(self.text.len())]
            .chars()
            .count();
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.to_owned(),
            inner.data(),
            *inner.span(),
            inner.line(),
            column,
            inner.line_count(),
        )))
    }
}

struct Snippet<'a> {
    code: NamedText<'a>,
    label: LabeledSpan,
}

impl fmt::Debug for Snippet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Snippet")
    }
}

impl fmt::Display for Snippet<'_> {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

impl std::error::Error for Snippet<'_> {}

impl miette::Diagnostic for Snippet<'_> {
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.code)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(self.label.clone())))
    }
}
