//! The local summarizer: no network, always available, deterministic (same input, same
//! output). It extracts rather than writes: the stated issue, salient sentences, what the
//! agent did, what the caller still asks, identifiers, amounts and dates, and a word-list
//! sentiment, then fills the briefing-script template with them.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{MAX_SCRIPT_WORDS, Sentiment, SummaryContent, SummaryInput};
use crate::transcripts::model::SpeakerRole;

/// The model name stored with extractive summaries.
pub const MODEL: &str = "warmline-extractive-1";

const STOPWORDS: &[&str] = &[
    "the", "and", "for", "you", "your", "are", "was", "were", "but", "not", "have", "has", "had",
    "this", "that", "with", "from", "they", "them", "their", "there", "what", "when", "where",
    "which", "who", "will", "would", "could", "should", "can", "just", "about", "into", "than",
    "then", "its", "it's", "i'm", "i've", "i'll", "our", "out", "all", "any", "yes", "okay",
    "sure", "please", "thank", "thanks", "hello", "know", "let", "get", "got", "been", "being",
    "also", "very", "some", "one", "did", "does", "how", "why", "me", "my",
];
const IDENTIFIER_WORDS: &[&str] = &[
    "order",
    "ticket",
    "case",
    "account",
    "invoice",
    "reference",
    "ref",
    "booking",
    "confirmation",
    "claim",
    "tracking",
    "policy",
    "serial",
];
const CURRENCY_WORDS: &[&str] = &[
    "dollars", "dollar", "euros", "euro", "pounds", "usd", "eur", "gbp",
];
const DATE_WORDS: &[&str] = &[
    "today",
    "tomorrow",
    "yesterday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const ACTION_MARKERS: &[&str] = &[
    "i've",
    "i have",
    "we've",
    "we have",
    "i checked",
    "i just",
    "refunded",
    "reset",
    "sent",
    "created",
    "updated",
    "escalated",
    "processed",
    "cancelled",
    "canceled",
    "issued",
    "scheduled",
    "looked up",
    "verified",
    "confirmed",
    "replaced",
    "credited",
];
const NEGATIVE: &[&str] = &[
    "damaged",
    "broken",
    "wrong",
    "late",
    "missing",
    "upset",
    "unhappy",
    "disappointed",
    "annoyed",
    "problem",
    "issue",
    "bad",
    "poor",
    "never",
    "again",
    "still",
    "waiting",
    "not",
    "refund",
    "complaint",
];
const STRONGLY_NEGATIVE: &[&str] = &[
    "angry",
    "furious",
    "frustrated",
    "frustrating",
    "terrible",
    "awful",
    "unacceptable",
    "ridiculous",
    "worst",
    "horrible",
    "outrageous",
    "disgusting",
    "cancel",
];
const POSITIVE: &[&str] = &[
    "thanks",
    "thank",
    "great",
    "appreciate",
    "happy",
    "perfect",
    "good",
    "excellent",
    "wonderful",
    "helpful",
    "glad",
    "awesome",
    "love",
];

struct Sentence {
    role: SpeakerRole,
    text: String,
    position: usize,
}

/// Summarizes `input`; the same input always gives the same summary.
pub fn summarize(input: &SummaryInput) -> SummaryContent {
    let sentences = split_sentences(input);
    let caller: Vec<&Sentence> = sentences
        .iter()
        .filter(|s| s.role == SpeakerRole::Caller)
        .collect();
    let agent: Vec<&Sentence> = sentences
        .iter()
        .filter(|s| s.role == SpeakerRole::Agent)
        .collect();

    let reason_for_call = input
        .issue
        .clone()
        .or_else(|| {
            caller
                .iter()
                .find(|s| s.text.split_whitespace().count() >= 4)
                .map(|s| s.text.clone())
        })
        .or_else(|| caller.first().map(|s| s.text.clone()))
        .unwrap_or_else(|| "Not stated yet".to_owned());

    let all_text: String = std::iter::once(input.issue.clone().unwrap_or_default())
        .chain(sentences.iter().map(|s| s.text.clone()))
        .collect::<Vec<_>>()
        .join(" ");
    let identifiers = find_identifiers(&all_text);
    let amounts = find_amounts(&all_text);
    let dates = find_dates(&all_text);

    let actions_taken: Vec<String> = agent
        .iter()
        .filter(|s| {
            let lower = s.text.to_lowercase();
            ACTION_MARKERS.iter().any(|m| contains_phrase(&lower, m))
        })
        .take(4)
        .map(|s| s.text.clone())
        .collect();
    let mut open_questions: Vec<String> = caller
        .iter()
        .rev()
        .filter(|s| s.text.ends_with('?'))
        .take(3)
        .map(|s| s.text.clone())
        .collect();
    open_questions.reverse();

    let used: BTreeSet<&str> = actions_taken
        .iter()
        .chain(open_questions.iter())
        .map(String::as_str)
        .chain(std::iter::once(reason_for_call.as_str()))
        .collect();
    let salient = salient_sentences(&sentences, &used, 2);

    let mut key_facts = vec![match &input.caller_phone {
        Some(phone) => format!("Caller: {} ({phone})", input.caller_name),
        None => format!("Caller: {}", input.caller_name),
    }];
    key_facts.extend(
        identifiers
            .iter()
            .map(|(kind, value)| format!("{} number: {value}", capitalize(kind))),
    );
    key_facts.extend(amounts.iter().map(|a| format!("Amount mentioned: {a}")));
    key_facts.extend(dates.iter().map(|d| format!("Date mentioned: {d}")));
    key_facts.extend(salient.iter().map(|s| format!("Said: \"{s}\"")));
    if let (Some(from), Some(to)) = (&input.from_agent, &input.to_agent) {
        let why = input
            .transfer_reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        key_facts.push(format!("Transfer from {from} to {to}{why}"));
    }

    let customer_sentiment = sentiment(caller.iter().map(|s| s.text.as_str()));
    let mut suggested_next_steps = Vec::new();
    if matches!(
        customer_sentiment,
        Sentiment::Negative | Sentiment::Frustrated
    ) {
        suggested_next_steps
            .push("Acknowledge the caller's frustration before anything else".to_owned());
    }
    suggested_next_steps.extend(
        open_questions
            .iter()
            .take(2)
            .map(|q| format!("Answer: {q}")),
    );
    if let Some((kind, value)) = identifiers.first() {
        suggested_next_steps.push(format!("Pull up {kind} {value}"));
    }
    if suggested_next_steps.is_empty() {
        suggested_next_steps
            .push("Confirm the caller's issue and agree on the next step".to_owned());
    }

    let last_caller_turn = input
        .turns
        .iter()
        .rev()
        .find(|t| t.role == SpeakerRole::Caller)
        .map(|t| t.text.trim());
    let briefing_script = script(
        input,
        &reason_for_call,
        &identifiers,
        &actions_taken,
        &open_questions,
        customer_sentiment,
        last_caller_turn,
        &suggested_next_steps,
    );

    SummaryContent {
        reason_for_call,
        key_facts,
        actions_taken,
        open_questions,
        customer_sentiment,
        suggested_next_steps,
        briefing_script,
    }
}

#[allow(clippy::too_many_arguments)]
fn script(
    input: &SummaryInput,
    reason: &str,
    identifiers: &[(String, String)],
    actions: &[String],
    questions: &[String],
    sentiment: Sentiment,
    last_caller_turn: Option<&str>,
    steps: &[String],
) -> String {
    let greeting = match &input.to_agent {
        Some(to) => format!("Hi {to}, I have {} on the line.", input.caller_name),
        None => format!("I have {} on the line.", input.caller_name),
    };
    let mut parts = vec![
        greeting,
        format!(
            "They're calling about {}.",
            trim_end_punctuation(&lowercase_first(reason))
        ),
    ];
    if !identifiers.is_empty() {
        let ids: Vec<String> = identifiers
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        parts.push(format!("For reference: {}.", ids.join(", ")));
    }
    if let Some(action) = actions.first() {
        parts.push(format!("So far: {}", ensure_period(action)));
    }
    if let Some(question) = questions.last() {
        parts.push(format!("They still want to know: {question}"));
    }
    match sentiment {
        Sentiment::Frustrated => parts.push("They are frustrated, so go gently.".into()),
        Sentiment::Negative => parts.push("They are not happy about it.".into()),
        Sentiment::Positive => parts.push("They've been friendly throughout.".into()),
        Sentiment::Neutral => {}
    }
    if let Some(last) =
        last_caller_turn.filter(|l| !questions.iter().any(|q| l.contains(q.as_str())))
    {
        parts.push(format!(
            "The last thing they said was: \"{}\"",
            trim_words(last, 25)
        ));
    }
    if let Some(step) = steps.first() {
        parts.push(format!(
            "I'd suggest you {}.",
            trim_end_punctuation(&lowercase_first(step))
        ));
    }
    trim_words(&parts.join(" "), MAX_SCRIPT_WORDS)
}

fn split_sentences(input: &SummaryInput) -> Vec<Sentence> {
    let mut out = Vec::new();
    for turn in &input.turns {
        let mut current = String::new();
        let chars: Vec<char> = turn.text.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            current.push(*c);
            let ends =
                matches!(c, '.' | '!' | '?') && chars.get(i + 1).is_none_or(|n| n.is_whitespace());
            if ends {
                push_sentence(&mut out, turn.role, &mut current);
            }
        }
        push_sentence(&mut out, turn.role, &mut current);
    }
    out
}

fn push_sentence(out: &mut Vec<Sentence>, role: SpeakerRole, current: &mut String) {
    let text = current.trim().to_owned();
    current.clear();
    if text.chars().any(char::is_alphanumeric) {
        let position = out.len();
        out.push(Sentence {
            role,
            text,
            position,
        });
    }
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| {
        !(c.is_alphanumeric()
            || c == '\''
            || c == '#'
            || c == '$'
            || c == '.'
            || c == '-'
            || c == '/'
            || c == '€'
            || c == '£')
    })
    .map(|w| {
        w.trim_matches(|c: char| c == '.' || c == '\'' || c == '-')
            .to_lowercase()
    })
    .filter(|w| !w.is_empty())
}

fn content_words(text: &str) -> Vec<String> {
    words(text)
        .filter(|w| {
            w.chars().count() >= 3
                && w.chars().any(char::is_alphabetic)
                && !STOPWORDS.contains(&w.as_str())
        })
        .collect()
}

/// The `n` sentences whose words recur most in the whole call, in the order they were said.
fn salient_sentences(sentences: &[Sentence], used: &BTreeSet<&str>, n: usize) -> Vec<String> {
    let mut frequency: BTreeMap<String, usize> = BTreeMap::new();
    for s in sentences {
        for w in content_words(&s.text) {
            *frequency.entry(w).or_default() += 1;
        }
    }
    let mut scored: Vec<(f64, usize, &Sentence)> = sentences
        .iter()
        .filter(|s| !used.contains(s.text.as_str()) && s.text.split_whitespace().count() >= 4)
        .map(|s| {
            let ws = content_words(&s.text);
            let total: usize = ws
                .iter()
                .map(|w| frequency.get(w).copied().unwrap_or(0))
                .sum();
            (
                total as f64 / (ws.len().max(1) as f64).sqrt(),
                s.position,
                s,
            )
        })
        .collect();
    // Highest score first; ties by earliest position, so the order is total and stable.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut chosen: Vec<&Sentence> = scored.into_iter().take(n).map(|(_, _, s)| s).collect();
    chosen.sort_by_key(|s| s.position);
    chosen.into_iter().map(|s| s.text.clone()).collect()
}

fn find_identifiers(text: &str) -> Vec<(String, String)> {
    let tokens: Vec<String> = words(text).collect();
    let mut found: Vec<(String, String)> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let kind = token.trim_end_matches('s');
        if !IDENTIFIER_WORDS.contains(&kind) {
            continue;
        }
        // "order 4411", "order number 4411", "ticket no. AB-12", "case #991"
        let candidates = tokens.iter().skip(i + 1).take(3);
        let value = candidates
            .filter(|t| !matches!(t.as_str(), "number" | "no" | "num" | "is" | "was" | "id"))
            .find(|t| t.chars().any(|c| c.is_ascii_digit()));
        if let Some(value) = value {
            let value = value.trim_start_matches('#').to_uppercase();
            if !found.iter().any(|(_, v)| *v == value) {
                found.push((kind.to_owned(), value));
            }
        }
    }
    for token in &tokens {
        if let Some(rest) = token.strip_prefix('#')
            && rest.chars().any(|c| c.is_ascii_digit())
            && !found.iter().any(|(_, v)| v.eq_ignore_ascii_case(rest))
        {
            found.push(("reference".to_owned(), rest.to_uppercase()));
        }
    }
    found.truncate(4);
    found
}

fn find_amounts(text: &str) -> Vec<String> {
    let tokens: Vec<String> = words(text).collect();
    let mut found: Vec<String> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let amount =
            if token.starts_with(['$', '€', '£']) && token.chars().any(|c| c.is_ascii_digit()) {
                Some(token.trim_end_matches('.').to_owned())
            } else if token
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
                && token.chars().any(|c| c.is_ascii_digit())
                && tokens
                    .get(i + 1)
                    .is_some_and(|next| CURRENCY_WORDS.contains(&next.as_str()))
            {
                Some(format!("{token} {}", tokens[i + 1]))
            } else {
                None
            };
        if let Some(a) = amount.filter(|a| !found.contains(a)) {
            found.push(a);
        }
    }
    found.truncate(3);
    found
}

fn find_dates(text: &str) -> Vec<String> {
    let tokens: Vec<String> = words(text).collect();
    let mut found: Vec<String> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let date = if DATE_WORDS.contains(&token.as_str()) {
            Some(capitalize(token))
        } else if MONTHS.contains(&token.as_str()) {
            let day = tokens.get(i + 1).filter(|d| {
                d.len() <= 4 && d.chars().take_while(char::is_ascii_digit).count() >= 1
            });
            Some(match day {
                Some(d) => format!("{} {d}", capitalize(token)),
                None => capitalize(token),
            })
        } else if is_numeric_date(token) {
            Some(token.clone())
        } else {
            None
        };
        if let Some(d) = date.filter(|d| !found.contains(d)) {
            found.push(d);
        }
    }
    found.truncate(3);
    found
}

fn is_numeric_date(token: &str) -> bool {
    for sep in ['-', '/'] {
        let parts: Vec<&str> = token.split(sep).collect();
        if parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 4 && p.chars().all(|c| c.is_ascii_digit()))
        {
            return true;
        }
    }
    false
}

fn sentiment<'a>(caller_sentences: impl Iterator<Item = &'a str>) -> Sentiment {
    let (mut negative, mut strong, mut positive) = (0i32, 0i32, 0i32);
    for sentence in caller_sentences {
        for w in words(sentence) {
            let w = w.trim_matches(|c: char| !c.is_alphanumeric());
            if STRONGLY_NEGATIVE.contains(&w) {
                strong += 1;
            } else if NEGATIVE.contains(&w) {
                negative += 1;
            } else if POSITIVE.contains(&w) {
                positive += 1;
            }
        }
    }
    if strong >= 2 || (strong >= 1 && negative >= 2) {
        Sentiment::Frustrated
    } else if strong + negative > positive + 1 {
        Sentiment::Negative
    } else if positive > strong + negative {
        Sentiment::Positive
    } else {
        Sentiment::Neutral
    }
}

fn contains_phrase(haystack: &str, phrase: &str) -> bool {
    haystack.match_indices(phrase).any(|(at, _)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + phrase.len()..].chars().next();
        before.is_none_or(|c| !c.is_alphanumeric()) && after.is_none_or(|c| !c.is_alphanumeric())
    })
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match (chars.next(), chars.clone().next()) {
        // Keep acronyms and names at the start as they are ("VPN", "Order").
        (Some(c), Some(n)) if c.is_uppercase() && !n.is_uppercase() => {
            c.to_lowercase().chain(chars).collect()
        }
        _ => text.to_owned(),
    }
}

fn trim_end_punctuation(text: &str) -> &str {
    text.trim_end_matches(['.', '!', ' '])
}

fn ensure_period(text: &str) -> String {
    if text.ends_with(['.', '!', '?']) {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

fn trim_words(text: &str, max: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() <= max {
        return words.join(" ");
    }
    format!("{}…", words[..max].join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summaries::model::Turn;

    fn turn(role: SpeakerRole, text: &str) -> Turn {
        Turn {
            speaker: format!("{role:?}"),
            role,
            text: text.to_owned(),
        }
    }

    fn story() -> SummaryInput {
        SummaryInput {
            caller_name: "Jane Doe".into(),
            caller_phone: Some("+1 415 555 0100".into()),
            issue: Some("Order 4411 arrived damaged".into()),
            from_agent: Some("agent_alice".into()),
            to_agent: Some("agent_bob".into()),
            transfer_reason: Some("Needs a replacement approval".into()),
            turns: vec![
                turn(
                    SpeakerRole::Caller,
                    "Hi, my order 4411 arrived damaged yesterday. The screen is broken.",
                ),
                turn(
                    SpeakerRole::Agent,
                    "I'm sorry to hear that. I've checked the order and it shipped on March 3.",
                ),
                turn(
                    SpeakerRole::Caller,
                    "This is really frustrating, I paid $249.99 for it. Can I get a replacement before Friday?",
                ),
                turn(
                    SpeakerRole::Agent,
                    "I have escalated it to our replacements team.",
                ),
            ],
        }
    }

    #[test]
    fn the_same_input_gives_the_same_summary() {
        assert_eq!(summarize(&story()), summarize(&story()));
    }

    #[test]
    fn it_extracts_what_agent_b_needs() {
        let s = summarize(&story());
        assert_eq!(s.reason_for_call, "Order 4411 arrived damaged");
        assert!(
            s.key_facts
                .contains(&"Caller: Jane Doe (+1 415 555 0100)".to_owned()),
            "{:?}",
            s.key_facts
        );
        assert!(
            s.key_facts.contains(&"Order number: 4411".to_owned()),
            "{:?}",
            s.key_facts
        );
        assert!(
            s.key_facts
                .contains(&"Amount mentioned: $249.99".to_owned()),
            "{:?}",
            s.key_facts
        );
        assert!(
            s.key_facts.iter().any(|f| f == "Date mentioned: Yesterday"),
            "{:?}",
            s.key_facts
        );
        assert!(
            s.key_facts.iter().any(|f| f == "Date mentioned: March 3"),
            "{:?}",
            s.key_facts
        );
        assert_eq!(s.actions_taken.len(), 2, "{:?}", s.actions_taken);
        assert_eq!(s.open_questions, ["Can I get a replacement before Friday?"]);
        assert_eq!(s.customer_sentiment, Sentiment::Frustrated);
        assert_eq!(
            s.suggested_next_steps[0],
            "Acknowledge the caller's frustration before anything else"
        );
        assert!(
            s.briefing_script
                .starts_with("Hi agent_bob, I have Jane Doe on the line."),
            "{}",
            s.briefing_script
        );
        assert!(
            s.briefing_script.contains("order 4411"),
            "{}",
            s.briefing_script
        );
        assert!(s.validate().is_ok());
    }

    #[test]
    fn an_empty_call_still_gives_a_valid_summary() {
        let input = SummaryInput {
            caller_name: "Sam".into(),
            ..Default::default()
        };
        let s = summarize(&input);
        assert_eq!(s.reason_for_call, "Not stated yet");
        assert_eq!(s.customer_sentiment, Sentiment::Neutral);
        assert!(s.validate().is_ok(), "{s:?}");
    }

    #[test]
    fn a_long_call_keeps_the_script_under_a_minute() {
        let mut input = story();
        input.turns = (0..300)
            .map(|i| {
                turn(
                    SpeakerRole::Caller,
                    &format!("Sentence number {i} about the broken order 4411 and more words."),
                )
            })
            .collect();
        let s = summarize(&input);
        assert!(s.briefing_script.split_whitespace().count() <= MAX_SCRIPT_WORDS);
        assert!(s.validate().is_ok());
    }

    #[test]
    fn the_reason_falls_back_to_the_callers_first_real_sentence() {
        let mut input = story();
        input.issue = None;
        assert_eq!(
            summarize(&input).reason_for_call,
            "Hi, my order 4411 arrived damaged yesterday."
        );
    }
}
