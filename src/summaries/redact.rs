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
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts_run = chars[i].is_ascii_digit()
            || (matches!(chars[i], '+' | '(')
                && chars
                    .get(i + 1)
                    .is_some_and(|c| c.is_ascii_digit() || *c == '('));
        if !starts_run {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // The longest run of digits and separators that ends on a digit.
        let mut end = i;
        let mut last_digit = None;
        while end < chars.len()
            && (chars[end].is_ascii_digit()
                || matches!(chars[end], ' ' | '-' | '.' | '(' | ')' | '+'))
        {
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
        let digits = run.chars().filter(char::is_ascii_digit).count();
        let replacement = if is_date(&run) {
            None
        } else if (13..=19).contains(&digits) {
            Some("[card]")
        } else if (7..=15).contains(&digits) {
            Some("[phone]")
        } else {
            None
        };
        out.push_str(replacement.unwrap_or(&run));
        i = last + 1;
    }
    out
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
    use super::redact;

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
}
