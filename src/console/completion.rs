//! Tab completion at the prompt: a command after `:` at the start of the
//! line, else a user's name. A name that starts the line is completed as
//! an address, `bob: `, as IRC clients do.

/// The word before `pos` in `line` completed: where it starts, and what
/// may replace it, in order. Names are matched without case.
pub fn complete(
    line: &str,
    pos: usize,
    names: &[String],
    commands: &[&str],
) -> (usize, Vec<String>) {
    let Some(before) = line.get(..pos) else {
        return (pos, Vec::new());
    };
    let start = before.rfind(' ').map_or(0, |i| i + 1);
    let word = &before[start..];
    let first = before[..start].trim().is_empty();
    if first && word.starts_with(':') {
        let found = commands
            .iter()
            .filter(|c| c.starts_with(word))
            .map(|c| format!("{c} "))
            .collect();
        return (start, found);
    }
    if word.is_empty() {
        return (start, Vec::new());
    }
    let lower = word.to_lowercase();
    let mut found: Vec<String> = names
        .iter()
        .filter(|n| n.to_lowercase().starts_with(&lower))
        .map(|n| match first {
            true => format!("{n}: "),
            false => format!("{n} "),
        })
        .collect();
    found.sort();
    found.dedup();
    (start, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["alice", "bob", "Bea", "carol#3f2a"]
            .map(String::from)
            .to_vec()
    }

    const COMMANDS: &[&str] = &[":who", ":peers", ":nick", ":join", ":quit"];

    #[test]
    fn a_name_at_the_start_is_an_address_and_elsewhere_a_word() {
        assert_eq!(
            complete("b", 1, &names(), COMMANDS),
            (0, vec!["Bea: ".into(), "bob: ".into()])
        );
        assert_eq!(
            complete("hi ca", 5, &names(), COMMANDS),
            (3, vec!["carol#3f2a ".into()])
        );
        assert_eq!(complete("hi ", 3, &names(), COMMANDS), (3, vec![]));
        assert_eq!(complete("zed", 3, &names(), COMMANDS), (0, vec![]));
    }

    #[test]
    fn a_command_completes_at_the_start_only() {
        assert_eq!(
            complete(":p", 2, &names(), COMMANDS),
            (0, vec![":peers ".into()])
        );
        assert_eq!(complete(":", 1, &names(), COMMANDS).1.len(), COMMANDS.len());
        assert_eq!(complete("x :p", 4, &names(), COMMANDS), (2, vec![]));
    }

    #[test]
    fn a_position_inside_a_character_completes_nothing() {
        assert_eq!(complete("zoë", 3, &names(), COMMANDS), (3, vec![]));
    }
}
