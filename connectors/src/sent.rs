//! The credentials this process has sent to a system (a cloud token, a kubeconfig's
//! password), so that an error that echoes one back (a proxy's page, a gateway that
//! quotes the request) reaches the step's message, the run's events and the console
//! masked, in every form [`Scrubber`] knows.
//!
//! Process-wide, because a connector's credential is obtained deep in its client (a
//! token credential, a kubeconfig) while its errors are sorted elsewhere; masking a
//! credential of another step's system is harmless. Runbook secrets are masked by the
//! engine; these are the ones no runbook declares.

use std::sync::{LazyLock, Mutex};

use drctl_core::scrub::{MASK, Scrubber};

/// Shorter values are not kept: masking every word they are part of would destroy the
/// message (the engine refuses such runbook secrets for the same reason).
const MIN_LEN: usize = 4;

#[derive(Default)]
struct Sent {
    values: Vec<String>,
    scrub: Scrubber,
}

static SENT: LazyLock<Mutex<Sent>> = LazyLock::new(Mutex::default);

/// Keeps `credential` to mask it from every message [`masked`] makes from now on.
pub fn remember(credential: &str) {
    let credential = credential.trim();
    if credential.chars().count() < MIN_LEN {
        return;
    }
    let mut sent = SENT.lock().unwrap_or_else(|e| e.into_inner());
    if !sent.values.iter().any(|v| v == credential) {
        sent.values.push(credential.to_owned());
        sent.scrub = Scrubber::new(sent.values.iter().map(String::as_str));
    }
}

/// `text` with every credential [`remember`]ed masked, and the word after `Bearer` (a
/// token the process never saw, such as one an exec plugin made).
pub fn masked(text: &str) -> String {
    let scrubbed = SENT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .scrub
        .text(text);
    without_bearer_tokens(&scrubbed)
}

/// `text` with the word after each `Bearer` (any case, also glued to what precedes it:
/// `Authorization:Bearer`, `"Authorization":"Bearer`; a `token` word between them is
/// kept) masked: for error bodies a server or a proxy in front of it may
/// fill with the request it got back, `Authorization` header included. A guess, for a
/// token the caller cannot name; one it knows it withholds by its value.
fn without_bearer_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut hide = false;
    for piece in text.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end_matches(char::is_whitespace);
        let gap = &piece[word.len()..];
        let bare = word
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_ascii_lowercase();
        if hide && !word.is_empty() && bare != "token" {
            out.push_str(MASK);
            hide = false;
        } else {
            out.push_str(word);
            hide = hide || bare.ends_with("bearer");
        }
        out.push_str(gap);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{masked, remember, without_bearer_tokens};

    #[test]
    fn a_remembered_credential_is_masked_in_its_forms() {
        remember("s3nt/Cr+d=");
        remember("ab");
        assert_eq!(masked("got s3nt%2FCr%2Bd%3D back"), "got *** back");
        assert_eq!(masked("ab and Bearer x"), "ab and Bearer ***");
    }

    #[test]
    fn a_bearer_token_echoed_back_is_withheld() {
        assert_eq!(
            without_bearer_tokens("denied: Authorization: Bearer  abc.def (from 10.0.0.1)"),
            "denied: Authorization: Bearer  *** (from 10.0.0.1)"
        );
        assert_eq!(
            without_bearer_tokens("bearer\tx\nBEARER\ny\n\"Bearer\" z"),
            "bearer\t***\nBEARER\n***\n\"Bearer\" ***"
        );
        assert_eq!(without_bearer_tokens("no token here"), "no token here");
        assert_eq!(
            without_bearer_tokens(r#"{"Authorization":"Bearer abc"} Authorization:Bearer d"#),
            r#"{"Authorization":"Bearer *** Authorization:Bearer ***"#
        );
        assert_eq!(
            without_bearer_tokens("invalid bearer token abc, retry"),
            "invalid bearer token *** retry"
        );
        assert_eq!(
            without_bearer_tokens("ends with Bearer"),
            "ends with Bearer"
        );
    }
}
