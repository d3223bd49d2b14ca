//! SQL for calls.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

use super::model::{Call, CallCursor, CallOverview, CallStatus, NewCall, RankedCall, Snippet};
use crate::transfers::model::{Outcome, TransferState};

/// The columns of a [`Call`], in its order.
pub const COLUMNS: &str = "id, room_name, caller_name, caller_identity, caller_phone, issue, metadata, \
                       status, current_agent, agents, created_by, created_at, updated_at, ended_at";

/// Inserts a validated call. `None`, with nothing written, when the caller's identity is a
/// registered agent.
pub async fn insert(db: impl PgExecutor<'_>, call: &NewCall) -> sqlx::Result<Option<Call>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO calls (id, room_name, caller_name, caller_identity, caller_phone, issue,
                            metadata, created_by)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8
         WHERE NOT EXISTS (SELECT 1 FROM agents WHERE identity = $4)
         RETURNING {COLUMNS}"
    )))
    .bind(call.id)
    .bind(&call.room_name)
    .bind(&call.caller_name)
    .bind(&call.caller_identity)
    .bind(&call.caller_phone)
    .bind(&call.issue)
    .bind(&call.metadata)
    .bind(call.created_by)
    .fetch_optional(db)
    .await
}

/// Calls still waiting for an agent that were created before `before`, oldest first.
pub async fn unanswered_since(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM calls WHERE {WAITING} AND created_at < $1 ORDER BY created_at LIMIT $2"
    )))
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// One call.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Call>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM calls WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// One call, locked until the transaction ends, so its status cannot change under us.
/// `NO KEY UPDATE`, not `UPDATE`: rows that reference the call (segments, participants,
/// jobs) take `KEY SHARE` locks on it, and `UPDATE` would make two such writers deadlock.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Call>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM calls WHERE id = $1 FOR NO KEY UPDATE"
    )))
    .bind(id)
    .fetch_optional(tx)
    .await
}

/// The call room `room` belongs to (its own room, or a transfer's briefing room), locked as
/// [`lock`] does; `None` for a room of no call.
pub async fn lock_of_room(tx: &mut PgConnection, room: &str) -> sqlx::Result<Option<Call>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM calls WHERE id = {} FOR NO KEY UPDATE",
        crate::rooms::store::call_of_room("$1")
    )))
    .bind(room)
    .fetch_optional(tx)
    .await
}

/// Filters of [`list`].
#[derive(Debug, Default, Clone)]
pub struct CallFilter {
    pub status: Option<CallStatus>,
    pub caller: Option<String>,
    pub created_after: Option<chrono::DateTime<chrono::Utc>>,
    pub created_before: Option<chrono::DateTime<chrono::Utc>>,
    /// Only calls created at or before this instant (a relevance search's first page's time).
    pub created_until: Option<chrono::DateTime<chrono::Utc>>,
    pub q: Option<String>,
    /// Only calls this agent has been on.
    pub agent: Option<String>,
    /// Only calls whose current (or last) agent is this one.
    pub final_agent: Option<String>,
    /// Only calls with (`true`) or without (`false`) a transfer.
    pub has_transfer: Option<bool>,
    /// Only calls with a transfer in this state (and of `transfer_outcome`, when set).
    pub transfer_state: Option<TransferState>,
    /// Only calls with a transfer of this outcome (and in `transfer_state`, when set).
    pub transfer_outcome: Option<Outcome>,
    /// Only ended calls that lasted at least this long.
    pub min_duration: Option<chrono::TimeDelta>,
    /// Only ended calls that lasted at most this long, in whole seconds.
    pub max_duration: Option<chrono::TimeDelta>,
    /// Only calls from this phone number, as stored.
    pub caller_phone: Option<String>,
    /// Only calls whose latest summary gives this sentiment.
    pub sentiment: Option<crate::summaries::model::Sentiment>,
    /// Only the calls an agent key may read: its own, and those waiting for an agent.
    pub visible_to_agent: Option<String>,
    /// Only the calls this frontend key started.
    pub created_by: Option<Uuid>,
}

impl CallFilter {
    /// Whether a filter passes few calls (an agent's, a caller's, a transfer outcome's), so
    /// that the calls passing it are best read first and a search's term looked for among
    /// them: walking the newest calls for the few that pass would read most of the table.
    fn narrows(&self) -> bool {
        self.agent.is_some()
            || self.transfer_state.is_some()
            || self.transfer_outcome.is_some()
            || self.listed()
    }

    /// Whether a filter narrows by what `call_words`' facets do not hold.
    fn listed(&self) -> bool {
        self.final_agent.is_some()
            || self.caller.is_some()
            || self.caller_phone.is_some()
            || (self.transfer_state.is_some() || self.transfer_outcome.is_some())
                && self.transfer_facet().is_none()
            || self.visible_to_agent.is_some()
            || self.created_by.is_some()
    }

    /// The facets of `call_words` a call passing the filter's agent, sentiment and transfer
    /// (one that ended with an outcome) has, as `call_facets` and `transfer_facets` write them.
    fn facets(&self) -> Vec<String> {
        let mut facets: Vec<String> = self.agent.iter().map(|a| format!("agent:{a}")).collect();
        facets.extend(self.sentiment.map(|s| format!("sentiment:{}", s.as_str())));
        facets.extend(self.transfer_facet());
        facets
    }

    /// The transfer filter as a facet: transfers completed or under way have none.
    fn transfer_facet(&self) -> Option<String> {
        let ended = |state: TransferState| state.is_terminal() && state != TransferState::Completed;
        match (self.transfer_state, self.transfer_outcome) {
            (Some(state), Some(outcome)) if ended(state) => {
                Some(format!("transfer:{}:{}", state.as_str(), outcome.as_str()))
            }
            (Some(state), None) if ended(state) => {
                Some(format!("transfer_state:{}", state.as_str()))
            }
            (None, Some(outcome)) => Some(format!("transfer_outcome:{}", outcome.as_str())),
            _ => None,
        }
    }

    /// Whether `call_words` holds every filter but the narrow ones: a search through it
    /// needs no other check of the calls it finds (its time bounds and facets are there).
    fn held_by_call_words(&self) -> bool {
        self.status.is_none()
            && self.min_duration.is_none()
            && self.max_duration.is_none()
            && self.has_transfer.is_none()
    }

    /// Whether the calls passing the filter are spread thinly among calls that fail it, so
    /// that a range of ids holding some of them holds several times more that fail. Looking
    /// a call's texts up by id costs ~5 µs, and'ing a range's ~1.7 µs a call (1 M calls): by
    /// id pays when fewer than a third pass. A sentiment passes a tenth; a duration or
    /// whether there was a transfer cuts the calls into large shares, and the status and
    /// time filters pass runs of neighbouring calls.
    fn spreads(&self) -> bool {
        self.narrows() || self.sentiment.is_some()
    }
}

/// Transcript segments holding a word, by the planner's statistics, above which the word
/// counts as common. Reading its posting list then costs more than walking the newest calls
/// for a page of matches. Words outside the statistics' most common lexemes count as rare.
const COMMON_WORD: f64 = 50_000.0;

/// How many of the newest calls (that pass the filters) a search of several common words
/// checks one by one first: whether the words occur together (a phrase) is not in the
/// statistics, so it is measured on these calls. A common phrase fills a page within them.
const SEARCH_RECENT: i64 = 500;

/// How many full-text matches a search gathers, at most, before it takes its term for a
/// common one after all and walks the calls instead.
const SEARCH_CANDIDATES: i64 = 5000;

/// How many of the newest calls a search of an uncommon word checks at once, at most.
const WINDOW_MAX: i64 = 50_000;

/// How many matching calls a relevance sort ranks when its term is common: the newest that
/// many, since ranking every match of a common term would read all of them.
const RELEVANCE_WINDOW: i64 = 100;

/// The call's own searchable text (its name and issue), as `calls_search_idx` indexes it.
const CALL_TEXT: &str = "calls.search";

/// The texts that match `$1`, as `call_id`s, one per matching text, from the three full-text
/// indexes; `ranked`, each with its rank.
fn matches(ranked: bool) -> String {
    let rank = |doc: &str| {
        if ranked {
            format!(", ts_rank({doc}, websearch_to_tsquery('simple', $1)) AS rank")
        } else {
            String::new()
        }
    };
    let (text, own) = (rank("search"), rank(CALL_TEXT));
    format!(
        "SELECT call_id{text} FROM transcript_segments
         WHERE search @@ websearch_to_tsquery('simple', $1)
         UNION ALL
         SELECT call_id{text} FROM summaries WHERE search @@ websearch_to_tsquery('simple', $1)
         UNION ALL
         SELECT id{own} FROM calls WHERE {CALL_TEXT} @@ websearch_to_tsquery('simple', $1)"
    )
}

/// How a search finds its calls.
enum Found {
    /// Every matching call, through the full-text indexes (a rare term).
    Candidates(Vec<Uuid>),
    /// Every matching call with the rank of its best-matching text, through the full-text
    /// indexes (a rare term, for a relevance sort: its texts are read once, ranked then).
    Ranked(Vec<(Uuid, f32)>),
    /// Too many to gather: walk the calls newest first, checking each (a common term).
    Common,
    /// The page itself, found among the newest calls (a common term of several words).
    Page(Vec<Call>),
    /// The page's ids, newest first, found a window of the newest calls at a time (an
    /// uncommon word); a relevance search needs no more than these.
    Newest(Vec<Uuid>),
    /// The calls whose words hold the term's among those passing the filters `call_words`
    /// holds, in no order (a term within a filter that spreads its calls); the other filters
    /// are left to the caller, and, unless `true` (a term of one word), the texts' check.
    Matching(Vec<Uuid>, bool),
}

/// What the planner's statistics say of the searchable words: the most common ones' shares of
/// transcript segments and of calls (their words in `call_words`), and how many of each there
/// are.
#[derive(Debug, Default)]
pub struct WordStatistics {
    /// The share of transcript segments holding each of their most common words.
    pub segment_shares: HashMap<String, f64>,
    /// How many transcript segments there are.
    pub segments: f64,
    /// The share of calls whose words (`call_words`) hold each of their most common ones.
    pub call_shares: HashMap<String, f64>,
    /// How many calls there are.
    pub calls: f64,
}

/// Reads [`WordStatistics`] from the catalog (~4 ms at 1 M calls, most of it in turning the
/// statistics' arrays of 1,000 words into text).
pub async fn word_statistics(db: impl PgExecutor<'_>) -> sqlx::Result<WordStatistics> {
    /// A table's name and rows, and its words' most common ones with their shares.
    type Table = (String, f64, Option<Vec<String>>, Option<Vec<f32>>);
    let tables: Vec<Table> = sqlx::query_as(
        "SELECT c.relname::text, c.reltuples::float8, s.most_common_elems::text::text[],
                s.most_common_elem_freqs
         FROM pg_class c
         LEFT JOIN pg_stats s
                ON s.schemaname = current_schema() AND s.tablename = c.relname
               AND s.attname = CASE c.relname WHEN 'transcript_segments' THEN 'search'
                                              WHEN 'call_words' THEN 'words' END
         WHERE c.oid IN ('transcript_segments'::regclass, 'call_words'::regclass,
                         'calls'::regclass)",
    )
    .fetch_all(db)
    .await?;
    let mut statistics = WordStatistics::default();
    for (table, rows, words, shares) in tables {
        // The shares array ends with three figures of its own, past the words'.
        let shares = words
            .unwrap_or_default()
            .into_iter()
            .zip(shares.unwrap_or_default().into_iter().map(f64::from))
            .collect();
        match table.as_str() {
            "transcript_segments" => {
                statistics.segments = rows;
                statistics.segment_shares = shares;
            }
            "call_words" => statistics.call_shares = shares,
            _ => statistics.calls = rows,
        }
    }
    Ok(statistics)
}

/// What the statistics say of a search's term, read once per search.
pub struct Term {
    /// The term, as asked.
    q: String,
    /// How many words it has.
    words: i64,
    /// How many transcript segments hold its rarest word, by the statistics (0 when they do
    /// not know the word: it is rarer than those they keep).
    rarest: f64,
    /// Whether it is one word.
    word: bool,
    /// How many calls there are, by the statistics.
    calls: f64,
    /// Its `querytree`: its words without negations.
    indexable: String,
    /// The share of calls whose words hold its rarest word, by `call_words`' statistics (0
    /// when they do not know it): those know a call's every text, the segments' only theirs.
    calls_share: f64,
}

impl Term {
    /// What `statistics` say of `q`; only its words are read here.
    pub async fn read(
        db: &mut PgConnection,
        q: &str,
        statistics: &WordStatistics,
    ) -> sqlx::Result<Term> {
        let (lexemes, word, indexable): (Vec<String>, bool, String) = sqlx::query_as(
            "SELECT ARRAY(SELECT lexeme FROM unnest(to_tsvector('simple', $1))),
                    numnode(websearch_to_tsquery('simple', $1)) = 1,
                    querytree(websearch_to_tsquery('simple', $1))",
        )
        .bind(q)
        .fetch_one(&mut *db)
        .await?;
        // The rarest word's share: a word the statistics do not know is rarer than those
        // they keep.
        let rarest = |shares: &HashMap<String, f64>| {
            lexemes
                .iter()
                .map(|l| shares.get(l).copied().unwrap_or(0.0))
                .reduce(f64::min)
                .unwrap_or(0.0)
        };
        Ok(Term {
            q: q.to_owned(),
            words: lexemes.len() as i64,
            rarest: rarest(&statistics.segment_shares) * statistics.segments,
            word,
            calls: statistics.calls,
            indexable,
            calls_share: rarest(&statistics.call_shares),
        })
    }

    /// Whether few texts hold the term, so that its posting lists are short: fewer than a
    /// search gathers.
    fn rare(&self) -> bool {
        self.rarest <= SEARCH_CANDIDATES as f64
    }
}

/// Picks how to find the calls matching `term` (the filter's `q`) that pass `filter` (after
/// `after`, `limit` a page); each way is exact, only its cost differs. `every` allows
/// [`Found::Matching`]: a relevance search's window is its term's newest matches when the
/// term is in more texts than a search gathers, which every match within the filter is not.
async fn find(
    db: &mut PgConnection,
    filter: &CallFilter,
    term: &Term,
    after: Option<CallCursor>,
    limit: i64,
    every: bool,
) -> sqlx::Result<Found> {
    let q = term.q.as_str();
    let Term {
        words,
        rarest,
        word,
        calls,
        ref indexable,
        calls_share,
        ..
    } = *term;
    // A narrow filter's calls are few and spread over the table: the term is looked for among
    // them, where a walk of the newest calls would read most of the table to find them.
    let narrow = filter.narrows();
    // How a window's matching texts are found: by the range of its ids, unless its calls are
    // spread among others (a sentiment's range of 7,000 calls spans 70,000: 132 ms, against
    // ~40 ms by id at 1 M calls); through the term's posting list, unless that is long.
    let texts = if !filter.spreads() {
        Texts::InRange
    } else if rarest > COMMON_WORD {
        Texts::Checked
    } else {
        Texts::Indexed
    };
    // The window's first size assumes the term's texts are spread one per call; it doubles
    // while the page is short.
    let share = rarest.max(SEARCH_CANDIDATES as f64) / calls.max(1.0);
    // Whether `call_words` can find the word's newest calls by day, and whether a day walk
    // has found it denser than that walk serves (a second walk would only find it again).
    let by_day = word && !filter.listed() && call_words_serve(indexable);
    let mut dense_by_day = false;
    if every && filter.spreads() && (rarest <= COMMON_WORD || narrow) {
        // The term's calls and'ed with the filter's in one index; a common term's only with a
        // narrow filter (an agent's 2,000 calls hold `order` 1,639 times, while a sentiment's
        // 100,000 hold it ten times as often as a search reads). A rare term's too: the
        // statistics know the segments' words only, and `called`, rare in segments, is in
        // 300,000 calls' summaries.
        if by_day && filter.held_by_call_words() {
            // One word, and every filter in `call_words`: its newest calls by day read about a
            // page, where gathering reads every call of the filter holding the word (1,614 of
            // an agent's 2,000 for `order`: 16 ms of a 35 ms search at 1 M calls). Unless the
            // days find it denser than a page's worth of rows a step.
            let found = newest_by_day(&mut *db, filter, Some(indexable), after, limit).await?;
            if !matches!(found, Found::Common) {
                return Ok(found);
            }
            dense_by_day = true;
        }
        if let Some(found) =
            among_call_words(&mut *db, filter, indexable, word, after, limit).await?
        {
            return Ok(found);
        }
    }
    if by_day {
        // A word in fewer than one call in 20, or one the statistics do not know: through
        // `call_words`, a page's worth of its newest calls, where a walk would check some 20
        // calls for each. A relevance sort ranks every match of a rare term, so it takes this
        // way only for a term in more texts than a search gathers (it ranks their newest),
        // unless a narrow filter's calls are looked through for it.
        let wanted = if term.rare() { every } else { !narrow };
        if calls_share < DENSE_SHARE && wanted {
            if dense_by_day {
                return Ok(Found::Common);
            }
            return newest_by_day(&mut *db, filter, Some(indexable), after, limit).await;
        }
        if calls_share >= DENSE_SHARE && term.rare() && every && !narrow {
            // Rare in segments but in many calls' other texts (`called`, in summaries): its
            // posting list is long, and a walk of the newest calls fills a page soon.
            return Ok(Found::Common);
        }
    }
    if word && rarest > SEARCH_CANDIDATES as f64 && (narrow || rarest <= COMMON_WORD) {
        // A word in too many texts to gather, and too few for a short walk, or within a
        // narrow filter.
        let ids = newest_matching(&mut *db, filter, after, limit, share, texts).await?;
        return Ok(Found::Newest(ids));
    }
    if words == 1 && rarest > SEARCH_CANDIDATES as f64 && !narrow {
        // More texts hold the word than a search gathers: gathering would only find that out.
        return Ok(Found::Common);
    }
    if rarest > COMMON_WORD && !narrow {
        // Common words only: the index would read all their posting lists, whether or not
        // the words occur together. Any match outside the newest calls is older than all of
        // them, so a full page found among them is the page.
        let mut sql = QueryBuilder::new(format!(
            "SELECT {COLUMNS} FROM (SELECT {COLUMNS}, {CALL_TEXT} FROM calls WHERE true"
        ));
        push_filters(&mut sql, filter, after);
        sql.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(SEARCH_RECENT)
            .push(") AS calls WHERE true");
        push_match(&mut sql, q);
        let recent = finish(&mut sql, limit)
            .persistent(false)
            .fetch_all(&mut *db)
            .await?;
        if recent.len() as i64 >= limit {
            return Ok(Found::Page(recent));
        }
        // Seen among them, the term is dense enough for a short walk; unseen, it may be too
        // rare for any walk, and the index's cost is bounded by the posting lists.
        if !recent.is_empty() {
            return Ok(Found::Common);
        }
    }
    // Gathered, a term of several words is counted exactly: the statistics know its words,
    // not how they combine. A relevance sort ranks every text gathered, as it is read.
    let found: Vec<(Uuid, Option<f32>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT call_id, {} FROM ({}) AS matches LIMIT $2",
        if every { "NULL::real" } else { "rank" },
        matches(!every)
    )))
    .bind(q)
    .bind(SEARCH_CANDIDATES + 1)
    .persistent(false)
    .fetch_all(&mut *db)
    .await?;
    if found.len() as i64 > SEARCH_CANDIDATES {
        if narrow {
            let ids = newest_matching(&mut *db, filter, after, limit, share, texts).await?;
            return Ok(Found::Newest(ids));
        }
        return Ok(Found::Common);
    }
    if every {
        let mut ids: Vec<Uuid> = found.into_iter().map(|f| f.0).collect();
        ids.sort_unstable();
        ids.dedup();
        return Ok(Found::Candidates(ids));
    }
    // Each call's best text.
    let mut best = HashMap::<Uuid, f32>::new();
    for (call, rank) in found {
        let rank = rank.unwrap_or_default();
        best.entry(call)
            .and_modify(|r| *r = r.max(rank))
            .or_insert(rank);
    }
    Ok(Found::Ranked(best.into_iter().collect()))
}

/// How [`newest_matching`] finds a window's matching texts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Texts {
    /// By and'ing the term's posting list with the range of the window's ids: unless the
    /// filters spread it, the window is nearly every call of its range, and the range one
    /// index scan.
    InRange,
    /// By and'ing the term's posting list with the window's calls, looked up by id: the
    /// filters spread the window among calls that fail them.
    Indexed,
    /// By checking every text of the window's calls, looked up by id: a common term's posting
    /// list is longer than the window's texts.
    Checked,
}

/// The ids of the newest `limit` calls (after `after`) that pass the filters and match
/// `filter.q`, a term `share` of the calls is expected to hold, newest first.
///
/// The calls are read a window at a time, newest first. Unless [`Texts::Checked`], the
/// window's matching segments and summaries are found by and'ing two bitmaps, the term's
/// posting list and the window's calls, so only matching texts are read. Walking the calls
/// instead checks every text of every call (~10 µs a call); gathering every match reads each
/// matching text (~3 µs). A range may hold calls outside the window: only the window's count.
async fn newest_matching(
    db: &mut PgConnection,
    filter: &CallFilter,
    mut after: Option<CallCursor>,
    limit: i64,
    share: f64,
    texts: Texts,
) -> sqlx::Result<Vec<Uuid>> {
    let q = filter.q.as_deref().unwrap_or_default();
    let limit = usize::try_from(limit).unwrap_or(0);
    let mut found = Vec::with_capacity(limit);
    // A page's worth by the statistics' share, and half as many again; doubled while short.
    let mut size =
        (limit as f64 / share.max(1e-9) * 1.5).clamp(limit as f64, WINDOW_MAX as f64) as i64;
    while found.len() < limit {
        let mut sql = QueryBuilder::new(format!(
            "SELECT id, created_at, {CALL_TEXT} @@ websearch_to_tsquery('simple', "
        ));
        sql.push_bind(q).push(") FROM calls WHERE true");
        push_filters(&mut sql, filter, after);
        sql.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(size);
        let window: Vec<(Uuid, DateTime<Utc>, bool)> = sql
            .build_query_as()
            .persistent(false)
            .fetch_all(&mut *db)
            .await?;
        let (Some(lo), Some(hi)) = (
            window.iter().map(|w| w.0).min(),
            window.iter().map(|w| w.0).max(),
        ) else {
            break;
        };
        let query = if texts == Texts::InRange {
            // Planned for this range: a wide one (old calls) is better served by the posting
            // list alone.
            sqlx::query_scalar(
                "SELECT call_id FROM transcript_segments
                 WHERE call_id BETWEEN $2 AND $3 AND search @@ websearch_to_tsquery('simple', $1)
                 UNION ALL
                 SELECT call_id FROM summaries
                 WHERE call_id BETWEEN $2 AND $3 AND search @@ websearch_to_tsquery('simple', $1)",
            )
            .bind(q)
            .bind(lo)
            .bind(hi)
        } else {
            let ids: Vec<Uuid> = window.iter().map(|w| w.0).collect();
            // `ts_match_vq` is `@@` in the form no index serves.
            let check = if texts == Texts::Checked {
                "ts_match_vq(search, websearch_to_tsquery('simple', $1))"
            } else {
                "search @@ websearch_to_tsquery('simple', $1)"
            };
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT call_id FROM transcript_segments WHERE call_id = ANY($2) AND {check}
                 UNION ALL
                 SELECT call_id FROM summaries WHERE call_id = ANY($2) AND {check}"
            )))
            .bind(q)
            .bind(ids)
        };
        let matching: std::collections::HashSet<Uuid> = query
            .persistent(false)
            .fetch_all(&mut *db)
            .await?
            .into_iter()
            .collect();
        found.extend(
            window
                .iter()
                .filter(|(id, _, own)| *own || matching.contains(id))
                .map(|w| w.0)
                .take(limit - found.len()),
        );
        if (window.len() as i64) < size {
            break;
        }
        after = window.last().map(|&(id, at, _)| (at, id));
        size = (size * 2).min(WINDOW_MAX);
    }
    Ok(found)
}

/// Whether `call_words` can find the calls of a term whose `querytree` is `indexable`: one
/// with words to look up (not only negations) and no phrase, which needs their positions.
fn call_words_serve(indexable: &str) -> bool {
    !(indexable.is_empty() || indexable == "T" || indexable.contains('<'))
}

/// Calls passing the narrow filters `call_words`' facets do not hold (a caller, a key), at
/// most, for their ids to be and'ed with a term's calls there.
const LISTED_MAX: i64 = WINDOW_MAX;

/// The calls whose words hold `filter.q`'s among those passing the filter's agent, sentiment,
/// ended transfer, time and other narrow filters, through `call_words`, whose words and facets
/// are and'ed before any row is read; `None` when more than [`SEARCH_CANDIDATES`] calls are
/// found, or more than [`LISTED_MAX`] pass the narrow filters the facets do not hold.
///
/// `indexable` is the term's `querytree`: its words without negations. A call's words (its
/// row's, with a long open call's newest in `call_words_recent`) are the union of its
/// texts', without positions: for one word (`exact`) they are exact, for more they hold
/// calls whose texts hold the words apart, and those are checked. A phrase needs positions:
/// it is left to the other ways. When `call_words` holds every filter, the page is found
/// there: [`Found::Newest`], and only its calls are read.
async fn among_call_words(
    db: &mut PgConnection,
    filter: &CallFilter,
    indexable: &str,
    exact: bool,
    after: Option<CallCursor>,
    limit: i64,
) -> sqlx::Result<Option<Found>> {
    if !call_words_serve(indexable) {
        return Ok(None);
    }
    // The calls passing the narrow filters the facets do not hold, and with them every
    // filter but the cursor.
    let listed = if filter.listed() {
        let mut sql = QueryBuilder::new("SELECT id FROM calls WHERE true");
        push_filters(&mut sql, filter, None);
        sql.push(" LIMIT ").push_bind(LISTED_MAX + 1);
        let ids: Vec<Uuid> = sql
            .build_query_scalar()
            .persistent(false)
            .fetch_all(&mut *db)
            .await?;
        if ids.len() as i64 > LISTED_MAX {
            return Ok(None);
        }
        Some(ids)
    } else {
        None
    };
    let held = listed.is_some() || filter.held_by_call_words();
    let found = call_words_matching(
        &mut *db,
        filter,
        Some(indexable),
        listed,
        after,
        None,
        SEARCH_CANDIDATES + 1,
    )
    .await?;
    if found.len() as i64 > SEARCH_CANDIDATES {
        return Ok(None);
    }
    if exact && held {
        return Ok(Some(Found::Newest(newest_first(found, limit))));
    }
    let ids = found.into_iter().map(|f| f.0).collect();
    Ok(Some(Found::Matching(ids, exact)))
}

/// The calls (id, creation time) whose words hold `indexable` (as [`among_call_words`] takes
/// it; with none, every call) among those passing the filter's facets, `listed` and time
/// bounds, after `after`, and created on one of `days` (UTC) when given; at most `bound`, in
/// no order.
async fn call_words_matching(
    db: &mut PgConnection,
    filter: &CallFilter,
    indexable: Option<&str>,
    listed: Option<Vec<Uuid>>,
    after: Option<CallCursor>,
    days: Option<Vec<NaiveDate>>,
    bound: i64,
) -> sqlx::Result<Vec<(Uuid, DateTime<Utc>)>> {
    let mut sql = QueryBuilder::new(
        "SELECT call_id, created_at FROM (SELECT call_id, created_at, facets FROM call_words",
    );
    if let Some(indexable) = indexable {
        push_words_match(&mut sql, filter, indexable);
    }
    // The filters once, outside: Postgres applies them inside each branch.
    sql.push(") AS matching WHERE true");
    let facets = filter.facets();
    // Only with some: an empty array is in every row, and GIN would read all its entries.
    if !facets.is_empty() {
        sql.push(" AND facets @> ").push_bind(facets);
    }
    if let Some(ids) = listed {
        sql.push(" AND call_id = ANY(").push_bind(ids).push(")");
    }
    if let Some(days) = days {
        // Spelled as `call_words_day_idx` indexes it.
        sql.push(" AND ARRAY[date(created_at AT TIME ZONE 'UTC')] && ")
            .push_bind(days)
            .push("::date[]");
    }
    push_created(&mut sql, filter, after, "call_id");
    // Every match's row is read (GIN returns no values), so their number is bounded first,
    // and the page taken from them in the service rather than sorted by a statement that
    // reads them all.
    sql.push(" LIMIT ").push_bind(bound);
    sql.build_query_as().persistent(false).fetch_all(db).await
}

/// `WHERE` the call's words hold `indexable`: its row's, or with a long open call's newest
/// words, which wait in `call_words_recent`.
fn push_words_match(sql: &mut QueryBuilder<Postgres>, filter: &CallFilter, indexable: &str) {
    sql.push(" WHERE words @@ ")
        .push_bind(indexable.to_owned())
        .push("::tsquery");
    // A long open call's newest words wait in `call_words_recent`, which no index covers: its
    // rows are few and short (~1 µs each to match). A call matches with them and not without
    // only if they hold one of the term's words (the term has no negation): any of them, as
    // a query of quoted lexemes. Apart from the calls above, so that the limit still stops
    // the index's reads.
    sql.push(
        " UNION ALL
             SELECT call_id, w.created_at, w.facets
             FROM call_words_recent r JOIN call_words w USING (call_id)
             WHERE r.words @@ (SELECT string_agg('''' || replace(replace(lexeme, '\\', '\\\\'),
                                                                 '''', '''''') || '''', ' | ')
                               FROM unnest(to_tsvector('simple', ",
    )
    .push_bind(filter.q.clone().unwrap_or_default())
    .push(")))::tsquery AND (w.words || r.words) @@ ")
    .push_bind(indexable.to_owned())
    .push("::tsquery AND NOT w.words @@ ")
    .push_bind(indexable.to_owned())
    .push("::tsquery");
}

/// The share of calls holding a word, by `call_words`' statistics, from which a search walks
/// the newest calls for it rather than reading its posting list: one call in 20 fills a page
/// within ~1,000 calls.
const DENSE_SHARE: f64 = 0.05;

/// How many rows per call of the page [`newest_by_day`] reads at once, at most, before it
/// looks for its word a span of days at a time.
const ROWS_PER_CALL: i64 = 4;

/// The most days one step of [`newest_by_day`] asks for: each is an entry the index reads.
const SPAN_MAX: i64 = 128;

/// The newest `limit` calls (after `after`) whose words hold the one word `indexable` (with
/// none, every call) and that pass the filter, through `call_words`: the caller checks that it
/// holds the filter's narrow ones ([`CallFilter::listed`] ones it does not). With no word, a
/// facet (an agent, a transfer's outcome) is what bounds the rows read.
///
/// A word in a few calls is read whole, as [`among_call_words`] reads its matches. A word in
/// more is asked for within the newest day (UTC), then the two days before, four, and so on,
/// until a page is found: GIN returns no order, so reading every match of a word in a few
/// thousand calls read a row per call (~65 µs each when not cached), while the days, an
/// index column, bound the rows read to about a page. Filters `call_words` does not hold
/// (status, duration, transfers) are checked on each step's calls. A step that finds more
/// rows than the first read takes finds a word too dense for this: [`Found::Common`].
async fn newest_by_day(
    db: &mut PgConnection,
    filter: &CallFilter,
    indexable: Option<&str>,
    after: Option<CallCursor>,
    limit: i64,
) -> sqlx::Result<Found> {
    let bound = limit.saturating_mul(ROWS_PER_CALL);
    let mut found = Gathered {
        held: filter.held_by_call_words(),
        ids: Vec::new(),
        calls: Vec::new(),
    };
    // From the day of the newest call the page may hold (a day ahead of this clock, for the
    // database's) to the oldest's.
    let newest = [
        after.map(|(at, _)| at),
        filter.created_before,
        filter.created_until,
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or_else(|| Utc::now() + chrono::TimeDelta::days(1))
    .date_naive();
    // A range of days that is one step long is read as the first read, so that the rows
    // outside it are not.
    let range = filter
        .created_after
        .map(|from| from.date_naive())
        .filter(|from| (0..SPAN_MAX).contains(&(newest - *from).num_days()))
        .map(|from| days_back(newest, SPAN_MAX, from));
    let rows =
        call_words_matching(&mut *db, filter, indexable, None, after, range, bound + 1).await?;
    if rows.len() as i64 <= bound {
        found.add(&mut *db, filter, after, rows, limit).await?;
        return Ok(found.page(limit));
    }
    let oldest = match filter.created_after {
        Some(at) => Some(at),
        None => {
            sqlx::query_scalar("SELECT min(created_at) FROM calls")
                .fetch_one(&mut *db)
                .await?
        }
    };
    let Some(oldest) = oldest.map(|at| at.date_naive()) else {
        return Ok(found.page(limit));
    };
    let (mut day, mut span) = (newest, 1);
    while found.len() < limit && day >= oldest {
        let days = days_back(day, span, oldest);
        day = days[days.len() - 1] - chrono::TimeDelta::days(1);
        // Every match of the span's days is read: the newest of them are only known then.
        let rows = call_words_matching(
            &mut *db,
            filter,
            indexable,
            None,
            after,
            Some(days),
            bound + 1,
        )
        .await?;
        if rows.len() as i64 > bound {
            // Dense enough that walking the calls newest first fills a page sooner (a word
            // the statistics do not know, such as one common in summaries only).
            return Ok(Found::Common);
        }
        found.add(&mut *db, filter, after, rows, limit).await?;
        span = (span * 2).min(SPAN_MAX);
    }
    Ok(found.page(limit))
}

/// `count` days back from `from` (itself first), none before `oldest`.
fn days_back(from: NaiveDate, count: i64, oldest: NaiveDate) -> Vec<NaiveDate> {
    (0..count)
        .map(|back| from - chrono::TimeDelta::days(back))
        .take_while(|d| *d >= oldest)
        .collect()
}

/// What [`newest_by_day`] has found: every step's matches, or, when `call_words` does not
/// hold every filter, the calls among them that pass it (at most a page a step).
struct Gathered {
    held: bool,
    ids: Vec<(Uuid, DateTime<Utc>)>,
    calls: Vec<Call>,
}

impl Gathered {
    /// Adds a step's matches, older than every match added before.
    async fn add(
        &mut self,
        db: &mut PgConnection,
        filter: &CallFilter,
        after: Option<CallCursor>,
        rows: Vec<(Uuid, DateTime<Utc>)>,
        limit: i64,
    ) -> sqlx::Result<()> {
        if self.held {
            self.ids.extend(rows);
        } else if !rows.is_empty() {
            let mut sql = among(filter, after, rows.into_iter().map(|r| r.0).collect(), None);
            let passing = finish(&mut sql, limit)
                .persistent(false)
                .fetch_all(db)
                .await?;
            self.calls.extend(passing);
        }
        Ok(())
    }

    /// How many calls of the page it holds.
    fn len(&self) -> i64 {
        (self.ids.len() + self.calls.len()) as i64
    }

    /// The page: its ids, or its calls already read.
    fn page(mut self, limit: i64) -> Found {
        if self.held {
            return Found::Newest(newest_first(self.ids, limit));
        }
        // Each step's calls came newest first, after every newer step's.
        self.calls.truncate(usize::try_from(limit).unwrap_or(0));
        Found::Page(self.calls)
    }
}

/// The ids of the newest `limit` of these calls, newest first.
fn newest_first(mut found: Vec<(Uuid, DateTime<Utc>)>, limit: i64) -> Vec<Uuid> {
    found.sort_unstable_by_key(|&(id, at)| std::cmp::Reverse((at, id)));
    found.truncate(usize::try_from(limit).unwrap_or(0));
    found.into_iter().map(|f| f.0).collect()
}

/// Calls newest first, starting after `after`, at most `limit` rows.
///
/// With `q`, a rare term's matching calls are gathered through the full-text indexes, then
/// filtered and sorted; an uncommon word's are found a window of the newest calls at a time;
/// a common term's are found by walking the calls newest first, checking each, until the page
/// is full (it fills soon). All are exact.
pub async fn list(
    db: &mut PgConnection,
    filter: &CallFilter,
    statistics: &WordStatistics,
    after: Option<CallCursor>,
    limit: i64,
) -> sqlx::Result<Searched<Call>> {
    let Some(q) = filter.q.as_deref() else {
        // An agent's calls, or a transfer outcome's, are spread over the whole table, and no
        // index gives them in order: their newest are found by day through `call_words`'
        // facets, which bounds the rows read to about a page, where the plain statement
        // below reads every one of them (6,000 calls of an outcome at 1 M calls, ~30 ms).
        let found = if filter.narrows() && !filter.listed() {
            newest_by_day(&mut *db, filter, None, after, limit).await?
        } else {
            Found::Common
        };
        let mut sql = match found {
            Found::Page(rows) => return Ok(Searched { rows, term: None }),
            Found::Newest(ids) => among(filter, after, ids, None),
            // Not a facet, or one dense enough that the newest calls hold a page soon.
            _ => {
                let mut sql = QueryBuilder::new(format!("SELECT {COLUMNS} FROM calls WHERE true"));
                push_filters(&mut sql, filter, after);
                sql
            }
        };
        let rows = finish(&mut sql, limit).fetch_all(db).await?;
        return Ok(Searched { rows, term: None });
    };
    let term = Term::read(&mut *db, q, statistics).await?;
    let mut sql = match find(&mut *db, filter, &term, after, limit, true).await? {
        Found::Page(rows) => {
            return Ok(Searched {
                rows,
                term: Some(term),
            });
        }
        // The page's ids pass the filters already: read by id as candidates are, they are the
        // page.
        Found::Candidates(ids) | Found::Newest(ids) => among(filter, after, ids, None),
        Found::Ranked(ranked) => among(
            filter,
            after,
            ranked.into_iter().map(|r| r.0).collect(),
            None,
        ),
        Found::Matching(ids, exact) => among(filter, after, ids, (!exact).then_some(q)),
        Found::Common => {
            let mut sql = QueryBuilder::new(format!("SELECT {COLUMNS} FROM calls WHERE true"));
            push_filters(&mut sql, filter, after);
            push_match(&mut sql, q);
            sql
        }
    };
    // Every search statement is planned for its term (a generic plan fits no term).
    let rows = finish(&mut sql, limit)
        .persistent(false)
        .fetch_all(db)
        .await?;
    Ok(Searched {
        rows,
        term: Some(term),
    })
}

/// A page of calls, and the term they were searched for (read once, for [`snippets`]).
pub struct Searched<T> {
    /// The page.
    pub rows: Vec<T>,
    /// The search's term, when it had one.
    pub term: Option<Term>,
}

/// The calls `ids` that pass the filters (and match `q`, when given: the ids may hold calls
/// that do not), for [`finish`] to order.
fn among(
    filter: &CallFilter,
    after: Option<CallCursor>,
    ids: Vec<Uuid>,
    q: Option<&str>,
) -> QueryBuilder<Postgres> {
    // Fenced (OFFSET 0) so the candidates are read by id and then sorted, never found by
    // walking the newest calls for them.
    let mut sql = QueryBuilder::new(format!(
        "SELECT * FROM (SELECT {COLUMNS} FROM calls WHERE id = ANY("
    ));
    sql.push_bind(ids).push(")");
    push_filters(&mut sql, filter, after);
    if let Some(q) = q {
        push_match(&mut sql, q);
    }
    sql.push(" OFFSET 0) AS matching");
    sql
}

/// The calls that match `q` and pass the filters, created up to `until`, best match first
/// (the rank of each call's best-matching text), then newest first; after `after`, at most
/// `limit` rows.
///
/// A rare term's matches are all ranked. A common term's newest [`RELEVANCE_WINDOW`] matching
/// calls are: ranking needs every match it ranks, and a common term has too many. `until`
/// (the first page's time) keeps the window, and so the pages, the same while calls arrive.
pub async fn list_by_relevance(
    db: &mut PgConnection,
    filter: &CallFilter,
    statistics: &WordStatistics,
    until: DateTime<Utc>,
    after: Option<(f32, DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Searched<RankedCall>> {
    let q = filter.q.clone().unwrap_or_default();
    let term = Term::read(&mut *db, &q, statistics).await?;
    let filter = &CallFilter {
        created_until: Some(until),
        ..filter.clone()
    };
    /// The calls a relevance sort ranks.
    enum Window {
        /// Every match, ranked as its texts were gathered.
        Ranked(Vec<(Uuid, f32)>),
        /// These calls, whose texts are ranked here.
        Calls(Vec<Uuid>),
    }
    // A rare term's calls are every call with a matching text, found and ranked through the
    // full-text indexes alone; a common term's window is found as a page of the newest
    // matches is, and its texts read call by call (`ts_match_vq` is `@@` that no index
    // serves), since its posting lists are long. Asked as for a first page: the window does
    // not depend on the page.
    let window = match find(&mut *db, filter, &term, None, RELEVANCE_WINDOW, false).await? {
        Found::Ranked(ranked) => Window::Ranked(ranked),
        Found::Candidates(ids) => Window::Calls(ids),
        Found::Page(calls) => Window::Calls(calls.into_iter().map(|c| c.id).collect()),
        // Every match ranks as exactly as a window of them.
        Found::Newest(ids) | Found::Matching(ids, _) => Window::Calls(ids),
        Found::Common => {
            let mut sql = QueryBuilder::new("SELECT id FROM calls WHERE true");
            push_filters(&mut sql, filter, None);
            push_match(&mut sql, &q);
            sql.push(" ORDER BY created_at DESC, id DESC LIMIT ")
                .push_bind(RELEVANCE_WINDOW);
            let ids: Vec<Uuid> = sql
                .build_query_scalar()
                .persistent(false)
                .fetch_all(&mut *db)
                .await?;
            Window::Calls(ids)
        }
    };
    let mut sql = QueryBuilder::new(format!(
        "SELECT * FROM (
             SELECT {COLUMNS}, ranked.rank FROM ("
    ));
    match window {
        Window::Ranked(ranked) => {
            let (ids, ranks): (Vec<Uuid>, Vec<f32>) = ranked.into_iter().unzip();
            sql.push("SELECT * FROM unnest(")
                .push_bind(ids)
                .push("::uuid[], ")
                .push_bind(ranks)
                .push("::real[]) AS r(call_id, rank)");
        }
        Window::Calls(ids) => {
            sql.push("SELECT call_id, max(rank) AS rank FROM (");
            let texts = [
                ("transcript_segments", "call_id", "search"),
                ("summaries", "call_id", "search"),
                ("calls", "id", CALL_TEXT),
            ];
            for (i, (table, call, doc)) in texts.into_iter().enumerate() {
                if i > 0 {
                    sql.push(" UNION ALL ");
                }
                sql.push(format!(
                    "SELECT {call} AS call_id, ts_rank({doc}, query) AS rank
                     FROM {table}, websearch_to_tsquery('simple', "
                ))
                .push_bind(q.clone())
                .push(format!(") AS query WHERE {call} = ANY("))
                .push_bind(ids.clone())
                .push(format!(") AND ts_match_vq({doc}, query)"));
            }
            sql.push(") AS matches GROUP BY call_id");
        }
    }
    sql.push(") AS ranked JOIN calls ON calls.id = ranked.call_id WHERE true");
    push_filters(&mut sql, filter, None);
    sql.push(") AS hits");
    if let Some((rank, at, id)) = after {
        sql.push(" WHERE (rank, created_at, id) < (")
            .push_bind(rank)
            .push(", ")
            .push_bind(at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    sql.push(" ORDER BY rank DESC, created_at DESC, id DESC LIMIT ")
        .push_bind(limit);
    let rows = sql.build_query_as().persistent(false).fetch_all(db).await?;
    Ok(Searched {
        rows,
        term: Some(term),
    })
}

/// For each of these calls that matches `term`, a few words of its best-matching text (by
/// rank; ties go to its name and issue, then summaries, then the earliest segment), the
/// matched words between `**` and line breaks as spaces, and which text it is.
pub async fn snippets(
    db: &mut PgConnection,
    ids: &[Uuid],
    term: &Term,
) -> sqlx::Result<HashMap<Uuid, Snippet>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    // The headline only of each call's best text: it reads the whole text, the rank does not.
    // A rare term's texts are found through its posting lists, short, and'ed with the calls'
    // texts, so that only the matching ones are read; a common term's posting list is long,
    // and each text of the calls is read and checked instead (`ts_match_vq` is `@@` that no
    // index serves).
    let indexed = |doc: &str| {
        if term.rare() {
            format!("AND {doc} @@ websearch_to_tsquery('simple', $2)")
        } else {
            String::new()
        }
    };
    let (own, text) = (indexed(CALL_TEXT), indexed("search"));
    let rows: Vec<Snippet> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT call_id, regexp_replace(ts_headline('simple', text, query,
                                     'StartSel=**, StopSel=**, MaxWords=20, MinWords=8'),
                                     '\\s+', ' ', 'g') AS text,
                matched_in, segment_id, summary_id
         FROM (SELECT DISTINCT ON (call_id) call_id, text, query, matched_in, segment_id, summary_id
               FROM (SELECT id AS call_id, caller_name || ' ' || COALESCE(issue, '') AS text,
                            {CALL_TEXT} AS doc, 0 AS kind, 0 AS pos, 'call' AS matched_in,
                            NULL::text AS segment_id, NULL::uuid AS summary_id
                     FROM calls WHERE id = ANY($1) {own}
                     UNION ALL
                     SELECT call_id, summary_text || ' ' || briefing_script, search, 1, 0,
                            'summary', NULL, id
                     FROM summaries WHERE call_id = ANY($1) {text}
                     UNION ALL
                     SELECT call_id, text, search, 2, start_ms, 'segment', segment_id, NULL
                     FROM transcript_segments WHERE call_id = ANY($1) {text}) AS docs,
                    websearch_to_tsquery('simple', $2) AS query
               WHERE ts_match_vq(doc, query)
               ORDER BY call_id, ts_rank(doc, query) DESC, kind, pos) AS best"
    )))
    .bind(ids)
    .bind(&term.q)
    .persistent(false)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|s| (s.call_id, s)).collect())
}

/// `AND` the call (as `calls`) matches `q`: its name and issue, a segment or a summary.
///
/// `ts_match_vq` is `@@` in a form no index serves, so the planner checks the few texts of
/// each call it walks instead of reading the term's whole posting list (or hashing every
/// match) once per call; the UNION ALL keeps the check per call too.
fn push_match(sql: &mut QueryBuilder<Postgres>, q: &str) {
    sql.push(format!(" AND ({CALL_TEXT}"))
        .push(" @@ websearch_to_tsquery('simple', ")
        .push_bind(q.to_owned())
        .push(
            ") OR EXISTS (
                SELECT 1 FROM transcript_segments t
                WHERE t.call_id = calls.id AND ts_match_vq(t.search, websearch_to_tsquery('simple', ",
        )
        .push_bind(q.to_owned())
        .push(
            "))
                UNION ALL
                SELECT 1 FROM summaries s
                WHERE s.call_id = calls.id AND ts_match_vq(s.search, websearch_to_tsquery('simple', ",
        )
        .push_bind(q.to_owned())
        .push("))))");
}

/// `AND` the filters that are set, and only those: a prepared statement with
/// `$n IS NULL OR …` for absent filters gets a generic plan that serves none of them.
fn push_filters(sql: &mut QueryBuilder<Postgres>, filter: &CallFilter, after: Option<CallCursor>) {
    if let Some(status) = filter.status {
        // A literal, so that every plan can use the partial index its predicate implies.
        sql.push(format!(" AND status = '{}'", status.as_str()));
    }
    if let Some(caller) = &filter.caller {
        sql.push(" AND lower(caller_name) = lower(")
            .push_bind(caller.clone())
            .push(")");
    }
    push_created(sql, filter, after, "id");
    if let Some(agent) = &filter.agent {
        // `@>`, not `= ANY`: the containment form is the one `calls_agents_idx` serves.
        sql.push(" AND agents @> ARRAY[")
            .push_bind(agent.clone())
            .push("]::text[]");
    }
    if let Some(agent) = &filter.final_agent {
        sql.push(" AND current_agent = ").push_bind(agent.clone());
    }
    if let Some(phone) = &filter.caller_phone {
        sql.push(" AND caller_phone = ").push_bind(phone.clone());
    }
    if let Some(sentiment) = filter.sentiment {
        // The latest summary's, kept on the call (`summaries_call_sentiment`).
        sql.push(" AND sentiment = ").push_bind(sentiment.as_str());
    }
    // An open call has no end, so it never matches a duration (NULL compares false).
    if let Some(min) = filter.min_duration {
        sql.push(" AND ended_at - created_at >= ").push_bind(min);
    }
    if let Some(max) = filter.max_duration {
        // Whole seconds: 90.5 s is at most 90 s.
        sql.push(" AND ended_at - created_at < ")
            .push_bind(max + chrono::TimeDelta::seconds(1));
    }
    // One EXISTS, so that a state and an outcome must hold for the same transfer.
    let wants_transfer = filter.transfer_state.is_some() || filter.transfer_outcome.is_some();
    if wants_transfer || filter.has_transfer.is_some() {
        let negate = filter.has_transfer == Some(false) && !wants_transfer;
        sql.push(if negate { " AND NOT" } else { " AND" })
            .push(" EXISTS (SELECT 1 FROM transfers t WHERE t.call_id = calls.id");
        if let Some(state) = filter.transfer_state {
            sql.push(" AND t.state = ").push_bind(state);
            if state.is_terminal() && state != TransferState::Completed {
                // Always true (`transfers_terminal_has_outcome`), but only a stated predicate
                // lets the planner use `transfers_outcome_idx`.
                sql.push(" AND t.outcome IS NOT NULL");
            }
        }
        if let Some(outcome) = filter.transfer_outcome {
            sql.push(" AND t.outcome = ").push_bind(outcome);
        }
        sql.push(")");
    }
    if let Some(agent) = &filter.visible_to_agent {
        // The forms `calls_agents_idx` and `calls_waiting_idx` serve, so that a search can
        // read an agent's calls through both at once.
        sql.push(" AND (agents @> ARRAY[")
            .push_bind(agent.clone())
            .push(format!("]::text[] OR {WAITING})"));
    }
    if let Some(key) = filter.created_by {
        sql.push(" AND created_by = ").push_bind(key);
    }
}

/// `AND` the filter's bounds on `created_at`, and the keyset cursor `after` with `id` the
/// column of the call's id.
fn push_created(
    sql: &mut QueryBuilder<Postgres>,
    filter: &CallFilter,
    after: Option<CallCursor>,
    id: &str,
) {
    if let Some(from) = filter.created_after {
        sql.push(" AND created_at >= ").push_bind(from);
    }
    if let Some(to) = filter.created_before {
        sql.push(" AND created_at < ").push_bind(to);
    }
    if let Some(until) = filter.created_until {
        sql.push(" AND created_at <= ").push_bind(until);
    }
    if let Some((at, call)) = after {
        sql.push(format!(" AND (created_at, {id}) < ("))
            .push_bind(at)
            .push(", ")
            .push_bind(call)
            .push(")");
    }
}

/// The order keyset pagination relies on, and the page size.
fn finish(
    sql: &mut QueryBuilder<Postgres>,
    limit: i64,
) -> sqlx::query::QueryAs<'_, Postgres, Call, sqlx::postgres::PgArguments> {
    sql.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(limit);
    sql.build_query_as()
}

/// Ends a call that has not ended; `None` when it had already ended (or does not exist).
pub async fn end(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Call>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE calls SET status = $2, ended_at = now(), updated_at = now()
         WHERE id = $1 AND status <> $2 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(CallStatus::Ended)
    .fetch_optional(db)
    .await
}

/// Sets the status (and, when given, the agent handling the call).
pub async fn set_status(
    db: impl PgExecutor<'_>,
    id: Uuid,
    status: CallStatus,
    current_agent: Option<&str>,
) -> sqlx::Result<Call> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE calls SET status = $2, current_agent = COALESCE($3, current_agent), updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(status)
    .bind(current_agent)
    .fetch_one(db)
    .await
}

/// Calls not yet ended: the predicate of `calls_open_idx`, written as a literal so that every
/// plan, generic or not, can use that index.
const OPEN: &str = "status <> 'ended'";

/// Calls waiting for an agent: the predicate of `calls_waiting_idx`, as [`OPEN`].
const WAITING: &str = "status = 'waiting'";

/// Calls not yet ended, newest first; with `visible_to_agent`, those the agent has been on or
/// that wait for an agent; with `created_by`, those that key started.
pub async fn list_open(
    db: impl PgExecutor<'_>,
    visible_to_agent: Option<&str>,
    created_by: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<Call>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM calls
         WHERE {OPEN}
           AND ($2::text IS NULL OR $2 = ANY (agents) OR status = $4)
           AND ($3::uuid IS NULL OR created_by = $3)
         ORDER BY created_at DESC, id DESC LIMIT $1"
    )))
    .bind(limit)
    .bind(visible_to_agent)
    .bind(created_by)
    .bind(CallStatus::Waiting)
    .fetch_all(db)
    .await
}

/// Whether `identity` is the caller of a call not yet ended.
pub async fn is_caller_in_progress(db: impl PgExecutor<'_>, identity: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM calls WHERE caller_identity = $1 AND status <> $2)",
    )
    .bind(identity)
    .bind(CallStatus::Ended)
    .fetch_one(db)
    .await
}

/// What [`CallOverview`] adds to a call's [`COLUMNS`]: its latest transfer and its transcript.
const OVERVIEW: &str = "
    t.from_agent AS transfer_from, t.to_agent AS transfer_to,
           t.state IN ('initiated', 'briefing', 'connecting') AS transfer_active, tx.transcript
    FROM calls c
    LEFT JOIN LATERAL (SELECT from_agent, to_agent, state FROM transfers
                       WHERE call_id = c.id ORDER BY initiated_at DESC, id DESC LIMIT 1) t ON true
    LEFT JOIN LATERAL (SELECT string_agg(speaker || ': ' || text, E'\\n' ORDER BY start_ms, seq) AS transcript
                       FROM transcript_segments WHERE call_id = c.id) tx ON true";

/// One call with its latest transfer and transcript.
pub async fn overview(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<CallOverview>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, {OVERVIEW} WHERE c.id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Calls not yet ended, newest first, each with its latest transfer and transcript; scoped as
/// [`list_open`].
pub async fn open_overviews(
    db: impl PgExecutor<'_>,
    visible_to_agent: Option<&str>,
    created_by: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<CallOverview>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, {OVERVIEW}
         WHERE c.{OPEN}
           AND ($2::text IS NULL OR $2 = ANY (c.agents) OR c.status = $4)
           AND ($3::uuid IS NULL OR c.created_by = $3)
         ORDER BY c.created_at DESC, c.id DESC LIMIT $1"
    )))
    .bind(limit)
    .bind(visible_to_agent)
    .bind(created_by)
    .bind(CallStatus::Waiting)
    .fetch_all(db)
    .await
}

/// The calls with these ids, in no particular order (for exports, which order them).
pub async fn by_ids(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<Vec<Call>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM calls WHERE id = ANY($1)"
    )))
    .bind(ids)
    .fetch_all(db)
    .await
}
