//! Masks personal data before text leaves the service for a model: e-mail addresses, phone
//! numbers and card-like numbers. The stored transcript keeps the original.

/// `text` with e-mails, phone numbers and card-like numbers replaced by `[email]`, `[phone]`
/// and `[card]`.
pub fn redact(text: &str) -> String {
    let without_emails: Vec<String> = text.split(' ').map(redact_email).collect();
    redact_numbers(&without_emails.join(" "))
}

fn redact_email(word: &str) -> String {
    let core = word
        .trim_matches(|c: char| matches!(c, ',' | ';' | ':' | '(' | ')' | '<' | '>' | '"' | '\''));
    let core = core.trim_end_matches(['.', '!', '?']);
    let looks_like_email = core.split_once('@').is_some_and(|(user, domain)| {
        !user.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    });
    if looks_like_email {
        word.replacen(core, "[email]", 1)
    } else {
        word.to_owned()
    }
}

fn redact_numbers(text: &str) -> String {
    redact_numbers_counting(text, &mut 0)
}

/// What a phone or card number is made of: digits and the separators people write in them.
fn is_number_char(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')' | '+')
}

/// A number starts at a digit, or at a `+` or `(` right before a digit or another `(`.
fn starts_number(chars: &[char], at: usize) -> bool {
    chars[at].is_ascii_digit()
        || (matches!(chars[at], '+' | '(')
            && chars
                .get(at + 1)
                .is_some_and(|c| c.is_ascii_digit() || *c == '('))
}

/// [`redact_numbers`], adding to `steps` the characters it handled. Each maximal stretch of
/// number characters is read once: the number in it runs from its first start to its last
/// digit, and nothing after that digit can hold another. (Looking again from every character
/// of a stretch with no digit made a long one cost its length squared.)
fn redact_numbers_counting(text: &str, steps: &mut usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let mut end = i;
        let mut first = None;
        let mut last_digit = None;
        while end < chars.len() && is_number_char(chars[end]) {
            if first.is_none() && starts_number(&chars, end) {
                first = Some(end);
            }
            if chars[end].is_ascii_digit() {
                last_digit = Some(end);
            }
            end += 1;
        }
        if end == i {
            *steps += 1;
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // Read once above, copied or masked once here.
        *steps += 2 * (end - i);
        match (first, last_digit) {
            // A stretch with a digit starts a number at or before its first digit.
            (Some(first), Some(last)) => {
                out.extend(&chars[i..first]);
                let run: String = chars[first..=last].iter().collect();
                out.push_str(mask(&run).unwrap_or(&run));
                out.extend(&chars[last + 1..end]);
            }
            _ => out.extend(&chars[i..end]),
        }
        i = end;
    }
    out
}

/// What a run of digits and separators is replaced by, if it is personal data.
fn mask(run: &str) -> Option<&'static str> {
    let digits = run.chars().filter(char::is_ascii_digit).count();
    if is_date(run) {
        None
    } else if (13..=19).contains(&digits) {
        Some("[card]")
    } else if (7..=15).contains(&digits) {
        Some("[phone]")
    } else {
        None
    }
}

fn is_date(run: &str) -> bool {
    let parts: Vec<&str> = run.split(['-', '/', '.']).collect();
    parts.len() == 3
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()))
        && matches!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>().as_slice(),
            [4, 1..=2, 1..=2] | [1..=2, 1..=2, 4] | [1..=2, 1..=2, 2]
        )
}

#[cfg(test)]
mod tests {
    use super::{redact, redact_numbers, redact_numbers_counting};

    #[test]
    fn personal_data_is_masked_and_the_rest_kept() {
        assert_eq!(
            redact("Call me on +1 (415) 555-0100 or mail jane.doe@example.com."),
            "Call me on [phone] or mail [email]."
        );
        assert_eq!(
            redact("My card is 4111 1111 1111 1111, expiry soon"),
            "My card is [card], expiry soon"
        );
        assert_eq!(
            redact("Order 4411 cost $249.99 on 2026-11-25"),
            "Order 4411 cost $249.99 on 2026-11-25",
            "order numbers, amounts and dates are not personal data"
        );
        assert_eq!(redact("no digits here"), "no digits here");
    }

    /// The first implementation, quadratic on long stretches without digits but plainly right:
    /// from every character, the longest run of number characters that ends on a digit.
    fn reference(text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < chars.len() {
            if !super::starts_number(&chars, i) {
                out.push(chars[i]);
                i += 1;
                continue;
            }
            let mut end = i;
            let mut last_digit = None;
            while end < chars.len() && super::is_number_char(chars[end]) {
                if chars[end].is_ascii_digit() {
                    last_digit = Some(end);
                }
                end += 1;
            }
            let Some(last) = last_digit else {
                out.push(chars[i]);
                i += 1;
                continue;
            };
            let run: String = chars[i..=last].iter().collect();
            out.push_str(super::mask(&run).unwrap_or(&run));
            i = last + 1;
        }
        out
    }

    #[test]
    fn numbers_are_found_as_the_reference_finds_them_in_every_short_text() {
        let alphabet = ['1', '(', '+', ' ', '-', '.', '/', 'a'];
        let mut texts = vec![String::new()];
        for _ in 0..5 {
            texts = texts
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            for text in &texts {
                assert_eq!(redact_numbers(text), reference(text), "{text:?}");
            }
        }
        for text in [
            "+1 (415) 555-0100 and 4111 1111 1111 1111 on 2026-11-25",
            "((((1234567)))) + ((",
            "call ( ( ( 5550100 ) ) ) now",
        ] {
            assert_eq!(redact_numbers(text), reference(text), "{text:?}");
        }
    }

    #[test]
    fn work_grows_with_the_length_of_the_text_not_its_square() {
        let n = 10_000;
        let texts = [
            "(".repeat(n),
            "+(".repeat(n / 2),
            "( ".repeat(n / 2),
            format!("1{}", "(".repeat(n - 1)),
            format!("{}1", "(".repeat(n - 1)),
            "1 ".repeat(n / 2),
            "a(".repeat(n / 2),
        ];
        for text in texts {
            let mut steps = 0;
            let masked = redact_numbers_counting(&text, &mut steps);
            assert_eq!(masked, redact_numbers(&text));
            let len = text.chars().count();
            assert!(
                steps <= 2 * len,
                "{steps} steps for {len} characters starting {:?}",
                &text[..10]
            );
        }
    }
}
