//! Asking the person at the terminal before anything is signed.
//!
//! `--yes` answers for them (scripts). Without it, stdin must be a terminal: a pipe or a file
//! could carry an answer the user never typed (an agent's output piped back in, a `yes |`
//! prefix copied from a web page), so no TTY and no `--yes` is a refusal, not a default. Only
//! `y` or `yes` (any case, surrounding spaces ignored) accepts; anything else, an empty line and
//! end of input refuse.

use std::io::{BufRead, IsTerminal, Write};

/// How the answer is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// `--yes`: already given.
    Given,
    /// Ask on the terminal.
    Ask,
}

/// Why nothing was done.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Declined {
    #[error("not confirmed: stdin is not a terminal; review the proposals with `nexus proposals`, then pass --yes")]
    NoTerminal,
    #[error("not confirmed: nothing was signed or sent")]
    Answered,
}

/// Asks `question` on stderr and reads the answer from stdin (a terminal).
pub fn confirm(consent: Consent, question: &str) -> Result<(), Declined> {
    if consent == Consent::Given {
        return Ok(());
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Declined::NoTerminal);
    }
    ask(question, &mut stdin.lock(), &mut std::io::stderr())
}

/// The dialogue itself, on any reader and writer (tested without a terminal).
fn ask(question: &str, input: &mut impl BufRead, output: &mut impl Write) -> Result<(), Declined> {
    // A prompt that cannot be written is a prompt nobody saw.
    write!(output, "{question} [y/N] ").and_then(|()| output.flush()).map_err(|_| Declined::Answered)?;
    let mut line = String::new();
    match input.read_line(&mut line) {
        Ok(n) if n > 0 && matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes") => Ok(()),
        _ => Err(Declined::Answered),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(text: &str) -> (Result<(), Declined>, String) {
        let mut out = Vec::new();
        let result = ask("Apply 2 proposals?", &mut text.as_bytes(), &mut out);
        (result, String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn only_yes_accepts() {
        for yes in ["y\n", "yes\n", " YES \n", "Y"] {
            let (result, prompt) = answer(yes);
            assert_eq!(result, Ok(()), "{yes:?}");
            assert_eq!(prompt, "Apply 2 proposals? [y/N] ");
        }
        for no in ["", "\n", "n\n", "no\n", "yess\n", "y es\n", "ok\n"] {
            assert_eq!(answer(no).0, Err(Declined::Answered), "{no:?}");
        }
    }

    #[test]
    fn yes_flag_skips_the_question() {
        assert_eq!(confirm(Consent::Given, "?"), Ok(()));
    }
}
