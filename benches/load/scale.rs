//! History at scale: a generator of a realistic call history (1 M calls, 10 M transcript
//! segments, 300 k transfers at full size), and the timings of the history queries on it.
//!
//! The generator is SQL run on the server (`INSERT … SELECT generate_series`): nothing is
//! streamed through the client, so a million calls load in minutes. It writes what the service
//! and its triggers would have written, row for row, and can make a small set for tests.

use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, PgConnection};

use crate::flow;
use crate::harness::{Row, Service, arg, summarize};

/// Scenario 3, history at scale (`--scale-calls N`, e.g. 1000000): on a database of N
/// generated calls (made once, named after N, reused by later runs; `--scale-database URL`
/// names another), the `/v1` create + transfer lifecycle against the same on an empty
/// database, then search, paging, timelines and replays one request at a time.
pub async fn run(calls: u64, lifecycles: usize, concurrency: usize) -> Vec<Row> {
    let given = arg("--scale-database", String::new());
    let url = if given.is_empty() {
        database_of(calls).await.expect("the scale database")
    } else {
        given.clone()
    };
    if generated_calls(&url)
        .await
        .expect("read the scale database")
        != Some(calls as i64)
    {
        assert!(
            given.is_empty(),
            "{given} holds no generated set of {calls} calls; leave out --scale-database to make one"
        );
        empty_schema(&url).await.expect("empty the scale database");
        let made = generate(&url, calls)
            .await
            .expect("generate the scale data");
        eprintln!(
            "generated {} calls, {} segments, {} transfers, {} summaries, {} events in {:.0?}",
            made.calls, made.segments, made.transfers, made.summaries, made.events, made.took
        );
    }
    alone_on(&url).await.expect("the scale database to itself");
    // History first, on the generated calls alone: the flows below add calls of their own,
    // newer than all of them, that a search would meet first.
    forget_flow_calls(&url)
        .await
        .expect("drop an earlier run's calls");
    match read_into_os_cache(&url).await {
        Ok((bytes, took)) => eprintln!(
            "read the set's {:.1} GB into the OS's cache in {took:.0?}",
            bytes as f64 / 1e9
        ),
        Err(e) => eprintln!("the set was not read into the OS's cache first ({e:#})"),
    }
    let service = Service::start(Some(url.clone()), &[]).await;
    let runs = arg("--scale-runs", 100);
    let latencies = history_latencies(&service.client, &service.base, &url, runs)
        .await
        .expect("history requests");
    service.stop();
    let mut rows = Vec::new();
    let empty = Service::start(None, &[]).await;
    let (on_empty, _) = flow::run_flow(
        &empty,
        "/v1 lifecycle, empty database",
        lifecycles,
        concurrency,
        |c, b, n, r| async move { flow::v1_lifecycle(&c, &b, n, &r).await },
    )
    .await;
    empty.stop();
    let service = Service::start(Some(url.clone()), &[]).await;
    let (mut on_history, _) = flow::run_flow(
        &service,
        &format!("/v1 lifecycle, {calls} calls stored"),
        lifecycles,
        concurrency,
        |c, b, n, r| async move { flow::v1_lifecycle(&c, &b, n, &r).await },
    )
    .await;
    on_history.note = format!(
        "{:.2}x the rate on an empty database",
        on_history.per_second / on_empty.per_second
    );
    rows.push(on_empty);
    rows.push(on_history);
    service.stop();
    forget_flow_calls(&url)
        .await
        .expect("drop this run's calls");
    for (name, mut latencies) in latencies {
        let mut row = summarize(&format!("  {name}"), &mut latencies);
        row.per_second = f64::NAN;
        row.note = format!(
            "p50 {:.1}ms p95 {:.1}ms p99 {:.1}ms ({runs} one at a time)",
            row.p50.as_secs_f64() * 1e3,
            row.p95.as_secs_f64() * 1e3,
            row.p99.as_secs_f64() * 1e3
        );
        rows.push(row);
    }
    rows
}

/// Refuses to measure beside another client of the set (a service left running on it sweeps
/// and claims jobs on the same tables: it once took the lifecycle at 1 M calls from ~0.95× to
/// 0.71–0.83× the empty database's rate), and shows settings made for the set alone (one
/// logging every statement went unnoticed the same way).
async fn alone_on(database_url: &str) -> anyhow::Result<()> {
    let mut db = PgConnection::connect(database_url).await?;
    let others: Vec<String> = sqlx::query_scalar(
        "SELECT format('pid %s, %s, from %s, %s', pid,
                       COALESCE(NULLIF(application_name, ''), 'no application name'),
                       COALESCE(client_addr::text, 'a socket'), state)
         FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()
           AND backend_type = 'client backend'",
    )
    .fetch_all(&mut db)
    .await?;
    let settings: Option<Vec<String>> = sqlx::query_scalar(
        "SELECT setconfig FROM pg_db_role_setting
         WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND setrole = 0",
    )
    .fetch_optional(&mut db)
    .await?;
    db.close().await?;
    if let Some(settings) = settings {
        eprintln!(
            "the set's database has settings of its own, in force while measuring: {}",
            settings.join(", ")
        );
    }
    anyhow::ensure!(
        others.is_empty(),
        "other clients are connected to the set, and would be measured with it: {}",
        others.join("; ")
    );
    Ok(())
}

/// Deletes the calls the lifecycle flow made on the generated set (and all that hangs on
/// them), so each run measures the generated history alone. The event log refuses deletes,
/// so this runs as a replica, which fires no trigger and no foreign-key action.
async fn forget_flow_calls(database_url: &str) -> anyhow::Result<()> {
    let mut db = PgConnection::connect(database_url).await?;
    let mut tx = db.begin().await?;
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    for table in [
        "events",
        "transcript_segments",
        "summaries",
        "participants",
        "jobs",
        "transfers",
        "call_words_recent",
        "call_words",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE call_id IN (SELECT id FROM calls WHERE caller_name LIKE $1)"
        )))
        .bind(format!("{}%", flow::V1_CALLER))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM calls WHERE caller_name LIKE $1")
        .bind(format!("{}%", flow::V1_CALLER))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    // What autovacuum would have done since (it is off on the benchmark's server): the rows
    // deleted here and the GIN indexes' pending lists the last run's flows left, which every
    // search reads through (a rare word 5–7 times slower). No `ANALYZE`: a new sample would
    // give the searches' statistics, and so their plans, other words each run.
    step(&mut db, "VACUUM").await?;
    db.close().await?;
    Ok(())
}

/// Reads every table and index of the set once (`pg_prewarm`'s `read` mode, which leaves
/// Postgres's own buffers alone), so that its pages come from the OS's cache, as on a server
/// that has been up a while: otherwise a run measures whatever a build or another tenant
/// left of it in memory (per page read 5–10 µs from the cache, 60 µs from this disk). Gives
/// the bytes read and the time taken; needs the extension, which a superuser can create.
async fn read_into_os_cache(database_url: &str) -> anyhow::Result<(i64, Duration)> {
    let started = Instant::now();
    let mut db = PgConnection::connect(database_url).await?;
    db.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        .await?;
    let blocks: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(pg_prewarm(c.oid, 'read')), 0)::bigint
         FROM pg_class c
         WHERE c.relkind IN ('r', 'i', 't')
           AND (c.relnamespace = 'public'::regnamespace
                OR c.oid IN (SELECT reltoastrelid FROM pg_class
                             WHERE relnamespace = 'public'::regnamespace))",
    )
    .fetch_one(&mut db)
    .await?;
    let block_size: i64 = sqlx::query_scalar("SELECT current_setting('block_size')::bigint")
        .fetch_one(&mut db)
        .await?;
    db.close().await?;
    Ok((blocks * block_size, started.elapsed()))
}

/// The URL of the database for `calls` generated calls on the benchmark's server, created
/// empty when missing.
async fn database_of(calls: u64) -> anyhow::Result<String> {
    let admin = std::env::var("WARMLINE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("warmline_scale_{calls}");
    let mut conn = PgConnection::connect(&admin).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        step(&mut conn, &format!("CREATE DATABASE {name}")).await?;
    }
    conn.close().await?;
    let (base, _) = admin
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("the admin URL names no database"))?;
    Ok(format!("{base}/{name}"))
}

/// How many calls [`generate`] wrote to this database, if it finished.
async fn generated_calls(database_url: &str) -> anyhow::Result<Option<i64>> {
    let mut db = PgConnection::connect(database_url).await?;
    let mark: Option<String> = sqlx::query_scalar(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database
         WHERE datname = current_database()",
    )
    .fetch_one(&mut db)
    .await?;
    db.close().await?;
    Ok(mark
        .as_deref()
        .and_then(|m| m.strip_prefix(GENERATED_MARK))
        .and_then(|n| n.parse().ok()))
}

/// Drops whatever a load cut short left behind (or a set of another size): the schema is
/// made again by the migrations when the load starts.
async fn empty_schema(database_url: &str) -> anyhow::Result<()> {
    let mut db = PgConnection::connect(database_url).await?;
    step(&mut db, "DROP SCHEMA public CASCADE; CREATE SCHEMA public").await?;
    db.close().await?;
    Ok(())
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy)]
pub struct Generated {
    pub calls: i64,
    pub segments: i64,
    pub transfers: i64,
    pub summaries: i64,
    pub events: i64,
    pub took: Duration,
}

/// The most frequent words of support calls, most common first; rarer words follow them,
/// made up from syllables, so that word frequencies fall off as in real speech (Zipf).
const COMMON_WORDS: &[&str] = &[
    "the",
    "i",
    "you",
    "to",
    "a",
    "and",
    "my",
    "it",
    "is",
    "that",
    "for",
    "of",
    "can",
    "on",
    "order",
    "account",
    "this",
    "with",
    "me",
    "have",
    "your",
    "was",
    "not",
    "be",
    "we",
    "please",
    "help",
    "just",
    "so",
    "do",
    "what",
    "card",
    "refund",
    "payment",
    "number",
    "there",
    "thank",
    "if",
    "but",
    "at",
    "call",
    "get",
    "check",
    "need",
    "want",
    "would",
    "did",
    "one",
    "all",
    "email",
    "password",
    "delivery",
    "package",
    "address",
    "billing",
    "charge",
    "charged",
    "invoice",
    "plan",
    "subscription",
    "cancel",
    "service",
    "internet",
    "phone",
    "bill",
    "time",
    "today",
    "yesterday",
    "week",
    "month",
    "again",
    "still",
    "already",
    "never",
    "working",
    "problem",
    "issue",
    "error",
    "app",
    "login",
    "reset",
    "update",
    "change",
    "upgrade",
    "device",
    "router",
    "modem",
    "signal",
    "slow",
    "broken",
    "damaged",
    "missing",
    "late",
    "tracking",
    "return",
    "exchange",
    "warranty",
    "replacement",
    "credit",
    "debit",
    "bank",
    "transfer",
    "balance",
    "fee",
    "discount",
    "coupon",
    "price",
    "store",
    "online",
    "website",
    "manager",
    "supervisor",
    "agent",
    "ticket",
    "case",
    "reference",
    "confirm",
    "verify",
    "identity",
    "security",
    "code",
    "text",
    "message",
    "sent",
    "received",
    "shipping",
    "courier",
    "box",
    "blender",
    "laptop",
    "screen",
    "battery",
    "charger",
    "printer",
    "headphones",
    "contract",
    "renewal",
    "insurance",
    "claim",
    "appointment",
    "booking",
    "flight",
    "hotel",
    "seat",
    "luggage",
    "voucher",
    "loyalty",
    "points",
    "pharmacy",
    "prescription",
    "doctor",
];

/// Words of phrases that many callers say in the same order (for phrase search).
const PHRASES: &[&str] = &[
    "i want a refund for",
    "my order has not arrived",
    "can you reset my password",
    "let me transfer you to",
    "thank you for calling",
    "i was charged twice",
    "the package arrived damaged",
    "i would like to cancel my subscription",
    "my internet keeps dropping",
    "can i speak to a supervisor",
];

const FIRST_NAMES: &[&str] = &[
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Nancy",
    "Matthew",
    "Lisa",
    "Anthony",
    "Betty",
    "Mark",
    "Margaret",
    "Donald",
    "Sandra",
    "Steven",
    "Ashley",
    "Paul",
    "Kimberly",
    "Andrew",
    "Emily",
    "Joshua",
    "Donna",
    "Kenneth",
    "Michelle",
    "Kevin",
    "Carol",
    "Brian",
    "Amanda",
    "George",
    "Melissa",
    "Timothy",
    "Deborah",
    "Ronald",
    "Stephanie",
    "Jose",
    "Rebecca",
    "Priya",
    "Wei",
    "Fatima",
    "Ahmed",
    "Yuki",
    "Olga",
    "Lucas",
    "Sofia",
    "Mateo",
    "Amara",
    "Noah",
    "Ingrid",
];

const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Patel",
    "Kim",
    "Chen",
    "Okafor",
    "Novak",
    "Silva",
    "Schmidt",
    "Rossi",
    "Dubois",
    "Kowalski",
    "Tanaka",
    "Haddad",
    "Berg",
];

/// How a generated database is labelled (its comment), followed by its number of calls.
const GENERATED_MARK: &str = "warmline history at scale: calls=";

/// Distinct words in the vocabulary.
const VOCABULARY: i64 = 20_000;
/// Distinct sentences segments are drawn from: a rare word lives in a few of them only.
const SENTENCES: i64 = 200_000;

/// Fills a migrated, empty database at `database_url` with `calls` calls and what goes with
/// them: ten transcript segments per call on average, transfers on three calls in ten (chains
/// on one in fifty), their summaries, room sessions and every event the triggers would have
/// logged. The last few calls are still open. Ends with VACUUM ANALYZE, as autovacuum would.
pub async fn generate(database_url: &str, calls: u64) -> anyhow::Result<Generated> {
    let started = Instant::now();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(database_url)
        .await?;
    warmline::db::migrate(&pool).await?;
    pool.close().await;
    let mut db = PgConnection::connect(database_url).await?;
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM calls")
        .fetch_one(&mut db)
        .await?;
    anyhow::ensure!(existing == 0, "the database already holds {existing} calls");

    // Bulk load as a superuser with triggers off (`replica`): the statements below write the
    // rows those triggers would have written (every event, `calls.agents`, the transfer
    // timestamps) themselves, and check no foreign key the data could break. Loading without
    // the secondary indexes and building them at the end is several times faster.
    db.execute(
        "SET session_replication_role = replica; SET synchronous_commit = off;
         SET work_mem = '256MB'; SET maintenance_work_mem = '1GB'; SELECT setseed(0.17);",
    )
    .await?;
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
         FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
         WHERE t.relname IN ('calls', 'transcript_segments', 'transfers', 'summaries', 'events',
                             'participants', 'call_words')
           AND t.relnamespace = 'public'::regnamespace
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
    )
    .fetch_all(&mut db)
    .await?;
    for (name, _) in &indexes {
        step(&mut db, &format!("DROP INDEX {name}")).await?;
    }

    let calls = calls.max(10) as i64;
    let agents = (calls / 2000).max(20);
    let open = (calls / 5000).max(6);
    let words = sql_text_array(COMMON_WORDS);
    let phrases = sql_text_array(PHRASES);
    let first = sql_text_array(FIRST_NAMES);
    let last = sql_text_array(LAST_NAMES);

    // Vocabulary: the common words, then made-up ones from three syllables (distinct by
    // construction), ranked; a pick of rank ⌊e^(u·ln N)⌋ for uniform u is Zipf-distributed.
    step(&mut db, &format!(
        "CREATE TEMP TABLE words AS
         WITH common AS (SELECT w, ord::int AS rank FROM unnest({words}::text[]) WITH ORDINALITY AS u(w, ord)),
              syl AS (SELECT ARRAY['ka','lo','mi','ne','su','ta','ri','po','ve','da','zo','bu',
                                   'fe','gi','ho','ju','ly','mo','na','pe','qui','ro','sa','ti',
                                   'ul','va','we','xo','ya','ze'] AS s)
         SELECT rank, w AS word FROM common
         UNION ALL
         SELECT r, s[1 + r % 30] || s[1 + (r / 30) % 30] || s[1 + (r / 900) % 30] || 'n'
         FROM syl, generate_series((SELECT count(*) FROM common) + 1, {VOCABULARY}) r;
         CREATE UNIQUE INDEX ON words (rank); ANALYZE words;"
    )).await?;
    step(&mut db, &format!(
        "CREATE TEMP TABLE sentences AS
         WITH picks AS (
             SELECT s, k, least({VOCABULARY}, floor(exp(random() * ln({VOCABULARY})))::int) AS rank
             FROM generate_series(1, {SENTENCES}) s, generate_series(1, 14) k
             WHERE k <= 4 + s % 11)
         SELECT s AS id,
                CASE WHEN s % 5 = 0 THEN ({phrases}::text[])[1 + (s / 5) % {n_phrases}] || ' ' ELSE '' END
                || string_agg(w.word, ' ' ORDER BY k) AS text
         FROM picks JOIN words w USING (rank) GROUP BY s;
         CREATE UNIQUE INDEX ON sentences (id); ANALYZE sentences;",
        n_phrases = PHRASES.len()
    )).await?;
    step(
        &mut db,
        &format!(
            "INSERT INTO agents (identity, display_name, team, skills, created_at, updated_at)
         SELECT 'agent_' || lpad(a::text, 4, '0'),
                ({first}::text[])[1 + a % {nf}] || ' ' || ({last}::text[])[1 + (a * 7) % {nl}],
                (ARRAY['billing', 'technical', 'sales', 'retention'])[1 + a % 4],
                ARRAY[(ARRAY['billing', 'technical', 'sales', 'retention'])[1 + a % 4]],
                now() - interval '400 days', now() - interval '400 days'
         FROM generate_series(1, {agents}) a",
            nf = FIRST_NAMES.len(),
            nl = LAST_NAMES.len()
        ),
    )
    .await?;

    // One row per call with everything its rows derive from. Callers come back: caller k
    // is drawn with density ∝ k^(-1/3), so a few call often and most once or twice. Ids are
    // time-ordered (v7 layout) like the service's.
    step(&mut db, &format!(
        "CREATE TEMP TABLE call_plan AS
         WITH base AS (
             SELECT i, now() - interval '365 days' * ({calls} - i)::float8 / {calls}
                       + interval '1 second' * floor(random() * 20) AS created_at,
                    floor(({calls} / 2) * power(random(), 1.5))::int AS caller_k,
                    random() AS r
             FROM generate_series(1, {calls}) i)
         SELECT i, created_at, caller_k,
                (lpad(to_hex((extract(epoch FROM created_at) * 1000)::bigint), 12, '0') || '7'
                 || substr(md5(i::text), 1, 3) || '8' || substr(md5(i::text), 4, 15))::uuid AS id,
                ({first}::text[])[1 + caller_k % {nf}] || ' '
                || CASE WHEN caller_k >= {nf} * {nl}
                        THEN chr(65 + (caller_k / ({nf} * {nl})) % 26) || '. ' ELSE '' END
                || ({last}::text[])[1 + (caller_k / {nf}) % {nl}] AS caller_name,
                'caller_' || caller_k AS caller_identity,
                '+1 ' || (200 + caller_k % 800) || ' 555 ' || lpad((caller_k % 10000)::text, 4, '0') AS caller_phone,
                CASE WHEN r < 0.7 THEN 1 + floor(random() * {SENTENCES})::int END AS issue_sentence,
                CASE WHEN i <= {calls} - {open} THEN 'ended'
                     ELSE (ARRAY['waiting', 'active', 'transferring'])[1 + i % 3] END AS status,
                'agent_' || lpad((1 + (i * 31) % {agents})::text, 4, '0') AS agent_a,
                1 + (i * 31) % {agents} AS agent_n,
                4 + (i * 7) % 13 AS segments
         FROM base;
         ALTER TABLE call_plan ADD PRIMARY KEY (i); ANALYZE call_plan;",
        nf = FIRST_NAMES.len(),
        nl = LAST_NAMES.len()
    )).await?;

    // Transfers: on three calls in ten, a second one (a chain A → B → C) on one in fifty,
    // and the one under way of each `transferring` call. Outcomes as a contact center sees
    // them; times in seconds after the call started.
    step(&mut db, &format!(
        "CREATE TEMP TABLE transfer_plan AS
         WITH t AS (
             SELECT c.i, c.id AS call_id, c.created_at AS call_at, c.status AS call_status, c.room_name, nth,
                    'agent_' || lpad((1 + (c.agent_n - 1 + 7 * (nth - 1)) % {agents})::text, 4, '0') AS from_agent,
                    'agent_' || lpad((1 + (c.agent_n - 1 + 7 * nth) % {agents})::text, 4, '0') AS to_agent,
                    CASE WHEN c.status = 'transferring' THEN (ARRAY['initiated', 'briefing'])[1 + c.i % 2]
                         WHEN nth = 1 AND c.i % 50 = 0 THEN 'completed'
                         ELSE CASE WHEN c.bucket < 80 THEN 'completed'
                                   WHEN c.bucket < 88 THEN 'declined'
                                   WHEN c.bucket < 93 THEN 'cancelled'
                                   WHEN c.bucket < 97 THEN 'expired'
                                   WHEN c.bucket < 99 THEN 'failed'
                                   ELSE 'abandoned' END END AS state,
                    c.created_at + interval '150 seconds' * nth AS initiated_at
             FROM (SELECT *, 'call_' || id AS room_name FROM call_plan) c0,
                  generate_series(1, CASE WHEN c0.i % 50 = 0 AND c0.status = 'ended' THEN 2 ELSE 1 END) nth,
                  LATERAL (SELECT c0.*, abs(hashtext(c0.i || '.' || nth)) % 100 AS bucket) c
             WHERE (c.status = 'ended' AND c.i % 10 < 3) OR c.status = 'transferring')
         SELECT t.*,
                (lpad(to_hex((extract(epoch FROM initiated_at) * 1000)::bigint), 12, '0') || '7'
                 || substr(md5('t' || i || '.' || nth), 1, 3) || '8'
                 || substr(md5('t' || i || '.' || nth), 4, 15))::uuid AS id,
                CASE WHEN state IN ('briefing', 'completed', 'failed', 'abandoned')
                     THEN initiated_at + interval '15 seconds' END AS briefing_at,
                CASE WHEN state IN ('completed', 'failed')
                     THEN initiated_at + interval '75 seconds' END AS connecting_at,
                initiated_at + CASE state WHEN 'completed' THEN interval '80 seconds'
                                          WHEN 'declined' THEN interval '10 seconds'
                                          WHEN 'cancelled' THEN interval '20 seconds'
                                          WHEN 'expired' THEN interval '60 seconds'
                                          WHEN 'failed' THEN interval '105 seconds'
                                          WHEN 'abandoned' THEN interval '40 seconds' END AS ended_at,
                CASE state WHEN 'declined' THEN CASE WHEN i % 2 = 0 THEN 'busy' ELSE 'wrong_skill' END
                           WHEN 'cancelled' THEN 'agent_cancelled' WHEN 'expired' THEN 'no_answer'
                           WHEN 'failed' THEN 'handoff_timeout' WHEN 'abandoned' THEN 'caller_left'
                END AS outcome
         FROM t;
         ALTER TABLE transfer_plan ADD PRIMARY KEY (i, nth); ANALYZE transfer_plan;"
    )).await?;

    // The call as the service leaves it: the agent of its last completed transfer, and every
    // agent it had (what `calls_remember_agent` and `transfers_remember_agents` keep).
    step(&mut db,
        "INSERT INTO calls (id, room_name, caller_name, caller_identity, caller_phone, issue, metadata,
                            status, current_agent, agents, created_at, updated_at, ended_at)
         SELECT c.id, 'call_' || c.id, c.caller_name, c.caller_identity, c.caller_phone, s.text,
                CASE WHEN c.i % 4 = 0 THEN jsonb_build_object('crm_id', 'C-' || c.caller_k) ELSE '{}' END,
                c.status,
                CASE WHEN c.status = 'waiting' THEN NULL ELSE COALESCE(t.handed_to, c.agent_a) END,
                CASE WHEN c.status = 'waiting' THEN '{}'::text[] ELSE ARRAY[c.agent_a] || COALESCE(t.to_agents, '{}') END,
                c.created_at, COALESCE(c.ended_at, c.created_at + interval '20 seconds'), c.ended_at
         FROM (SELECT *, CASE WHEN status = 'ended'
                              THEN created_at + interval '600 seconds' + interval '1 second' * (i % 900) END AS ended_at
               FROM call_plan) c
         LEFT JOIN sentences s ON s.id = c.issue_sentence
         LEFT JOIN (SELECT i, array_agg(to_agent ORDER BY nth) AS to_agents,
                           (array_agg(to_agent ORDER BY nth DESC) FILTER (WHERE state = 'completed'))[1] AS handed_to
                    FROM transfer_plan GROUP BY i) t ON t.i = c.i"
    ).await?;
    step(&mut db,
        "INSERT INTO transfers (id, call_id, from_agent, to_agent, mode, handoff, reason, state, outcome,
                                handoff_confirmed, caller_room, briefing_room, final_room, accept_deadline,
                                handoff_deadline, initiated_at, briefing_at, connecting_at, completed_at,
                                cancelled_at, declined_at, expired_at, failed_at, abandoned_at, updated_at)
         SELECT id, call_id, from_agent, to_agent,
                CASE WHEN i % 10 = 0 THEN 'conference' ELSE 'consult' END, 'agent_joins_caller',
                CASE WHEN i % 3 = 0 THEN 'needs ' || (ARRAY['billing', 'technical', 'sales', 'retention'])[1 + i % 4] END,
                state::transfer_state, outcome,
                CASE WHEN state = 'completed' THEN true END,
                room_name, 'briefing_' || id, CASE WHEN state = 'completed' THEN room_name END,
                initiated_at + interval '60 seconds',
                connecting_at + interval '30 seconds',
                initiated_at, briefing_at, connecting_at,
                CASE WHEN state = 'completed' THEN ended_at END,
                CASE WHEN state = 'cancelled' THEN ended_at END,
                CASE WHEN state = 'declined' THEN ended_at END,
                CASE WHEN state = 'expired' THEN ended_at END,
                CASE WHEN state = 'failed' THEN ended_at END,
                CASE WHEN state = 'abandoned' THEN ended_at END,
                COALESCE(ended_at, briefing_at, initiated_at)
         FROM transfer_plan",
    ).await?;

    // Segments alternate caller and agent, four seconds apart; each is a sentence of the pool,
    // one in ten with an order number, the rarest of words: one or two calls say each.
    step(&mut db, &format!(
        "INSERT INTO transcript_segments (call_id, segment_id, speaker, role, text, start_ms, end_ms,
                                          spoken_at, created_at)
         SELECT p.id, 's' || p.k, p.speaker, p.role, s.text || p.reference, p.start_ms, p.start_ms + 3000,
                p.created_at + interval '1 millisecond' * p.start_ms,
                p.created_at + interval '1 millisecond' * (p.start_ms + 3500)
         FROM (SELECT c.id, c.created_at, k, k * 4000 + (c.i % 900) AS start_ms,
                      CASE WHEN k % 2 = 1 OR c.status = 'waiting' THEN c.caller_name ELSE c.agent_a END AS speaker,
                      CASE WHEN k % 2 = 1 OR c.status = 'waiting' THEN 'caller' ELSE 'agent' END AS role,
                      1 + floor(random() * {SENTENCES})::int AS sentence,
                      CASE WHEN random() < 0.1
                           THEN ' order ' || (100000 + floor(random() * 900000))::int ELSE '' END AS reference
               FROM call_plan c, generate_series(1, c.segments) k
               ORDER BY c.i, k) p
         JOIN sentences s ON s.id = p.sentence"
    )).await?;

    // The local summary at once on every transfer, a model's a few seconds later on half of
    // the completed ones.
    step(&mut db, &format!(
        "INSERT INTO summaries (id, call_id, transfer_id, provider, model, prompt_version, content,
                                summary_text, briefing_script, fallback, latency_ms, prompt_tokens,
                                completion_tokens, segments_used, created_at)
         SELECT (lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0') || '7'
                 || substr(md5(t.id::text || llm), 1, 3) || '8' || substr(md5(t.id::text || llm), 4, 15))::uuid,
                t.call_id, t.id,
                CASE WHEN llm THEN 'openai_compatible' ELSE 'extractive' END,
                CASE WHEN llm THEN 'openai/gpt-4o-mini' ELSE 'warmline-extractive-1' END,
                CASE WHEN llm THEN '2026-11-25.1' ELSE 'warmline-extractive-1' END,
                jsonb_build_object('reason_for_call', s1.text, 'key_facts', jsonb_build_array(s2.text),
                                   'actions_taken', '[]'::jsonb, 'open_questions', '[]'::jsonb,
                                   'customer_sentiment', (ARRAY['neutral', 'negative', 'frustrated', 'positive'])[1 + t.i % 4],
                                   'suggested_next_steps', '[]'::jsonb,
                                   'briefing_script', 'The caller ' || c.caller_name || ' called about ' || s1.text),
                'The caller called about ' || s1.text || '. ' || s2.text || '.',
                'The caller ' || c.caller_name || ' called about ' || s1.text,
                NOT llm, CASE WHEN llm THEN 1800 + (t.i % 2500) ELSE 2 END,
                CASE WHEN llm THEN 900 + (t.i % 600) END, CASE WHEN llm THEN 180 + (t.i % 90) END,
                3 + t.nth * 4, at
         FROM transfer_plan t
         JOIN call_plan c ON c.i = t.i
         CROSS JOIN LATERAL (VALUES (false, t.initiated_at + interval '1 second'),
                                    (true, t.initiated_at + interval '6 seconds')) AS v(llm, at)
         JOIN sentences s1 ON s1.id = 1 + (t.i * 13 + t.nth) % {SENTENCES}
         JOIN sentences s2 ON s2.id = 1 + (t.i * 29 + t.nth) % {SENTENCES}
         WHERE NOT llm OR (t.state = 'completed' AND t.i % 2 = 0)"
    )).await?;

    // Each call's sentiment from its latest summary (`summaries_call_sentiment`'s work).
    step(
        &mut db,
        "UPDATE calls SET sentiment = latest.sentiment
         FROM (SELECT DISTINCT ON (call_id) call_id, content->>'customer_sentiment' AS sentiment
               FROM summaries ORDER BY call_id, created_at DESC, id DESC) AS latest
         WHERE calls.id = latest.call_id",
    )
    .await?;
    // Each call's words and facets (the `call_words` triggers' work).
    step(
        &mut db,
        "INSERT INTO call_words (call_id, created_at, facets, words)
         SELECT c.id, c.created_at, call_facets(c.agents, c.sentiment) || COALESCE(ended.facets, '{}'),
                strip(c.search) || COALESCE(texts.words, '')
         FROM calls c
         LEFT JOIN (SELECT call_id, array_to_tsvector(array_agg(DISTINCT lexeme)) AS words
                    FROM (SELECT call_id, search FROM transcript_segments
                          UNION ALL
                          SELECT call_id, search FROM summaries) AS t,
                         unnest(t.search)
                    GROUP BY call_id) AS texts ON texts.call_id = c.id
         LEFT JOIN (SELECT call_id, array_agg(DISTINCT f) AS facets
                    FROM transfers, unnest(transfer_facets(state::text, outcome)) AS f
                    WHERE outcome IS NOT NULL
                    GROUP BY call_id) AS ended ON ended.call_id = c.id",
    )
    .await?;

    // Who was in which room when: both agents in the briefing room, the receiving agent in
    // the caller's room after a completed hand-off.
    step(&mut db,
        "INSERT INTO participants (room, identity, participant_sid, call_id, role, name, joined_at, left_at)
         SELECT p.room, p.identity, 'PA_' || substr(md5(t.id::text || p.identity || p.room), 1, 12),
                t.call_id, 'agent', p.identity, p.joined_at, p.left_at
         FROM transfer_plan t
         JOIN calls c ON c.id = t.call_id
         CROSS JOIN LATERAL (VALUES
             ('briefing_' || t.id, t.from_agent, t.initiated_at + interval '2 seconds',
              COALESCE(t.connecting_at, t.ended_at)),
             ('briefing_' || t.id, t.to_agent, t.briefing_at,
              COALESCE(t.connecting_at + interval '5 seconds', t.ended_at)),
             (t.room_name, t.to_agent,
              CASE WHEN t.state = 'completed' THEN t.ended_at - interval '1 second' END, c.ended_at)
         ) AS p(room, identity, joined_at, left_at)
         WHERE p.joined_at IS NOT NULL",
    ).await?;

    // Every event the triggers would have logged, numbered in time order as they would be.
    step(&mut db,
        "INSERT INTO events (call_id, transfer_id, kind, data, created_at)
         SELECT call_id, transfer_id, kind, data, created_at FROM (
             SELECT id AS call_id, NULL::uuid AS transfer_id, 'call.created' AS kind,
                    jsonb_build_object('caller_name', caller_name, 'room_name', room_name, 'status', 'waiting') AS data,
                    created_at
             FROM calls
             UNION ALL
             SELECT c.id, NULL, 'call.status_changed',
                    jsonb_build_object('from', 'waiting', 'to', 'active', 'current_agent', p.agent_a),
                    c.created_at + interval '20 seconds'
             FROM calls c JOIN call_plan p ON p.id = c.id WHERE c.status <> 'waiting'
             UNION ALL
             SELECT id, NULL, 'call.ended',
                    jsonb_build_object('from', 'active', 'to', 'ended', 'current_agent', current_agent),
                    ended_at
             FROM calls WHERE status = 'ended'
             UNION ALL
             SELECT call_id, NULL, 'transcript.appended',
                    jsonb_build_object('segments', count(*), 'first_start_ms', min(start_ms),
                                       'last_start_ms', max(start_ms)),
                    max(created_at)
             FROM transcript_segments GROUP BY call_id, (start_ms / 20000)
             UNION ALL
             SELECT call_id, id, 'transfer.initiated',
                    jsonb_build_object('from_agent', from_agent, 'to_agent', to_agent, 'mode', mode,
                                       'handoff', handoff, 'reason', reason, 'briefing_room', briefing_room),
                    initiated_at
             FROM transfers
             UNION ALL
             SELECT call_id, NULL, 'call.status_changed',
                    jsonb_build_object('from', 'active', 'to', 'transferring', 'current_agent', from_agent),
                    initiated_at
             FROM transfer_plan
             UNION ALL
             SELECT t.call_id, t.id, 'transfer.' || s.state,
                    jsonb_strip_nulls(jsonb_build_object(
                        'from', s.previous, 'to', s.state,
                        'outcome', CASE WHEN s.last THEN t.outcome END,
                        'outcome_detail', NULL::text,
                        'handoff_confirmed', CASE WHEN s.last THEN t.handoff_confirmed END,
                        'final_room', CASE WHEN s.last THEN t.final_room END)),
                    s.at
             FROM transfers t
             CROSS JOIN LATERAL (
                 SELECT state, lag(state, 1, 'initiated') OVER (ORDER BY at) AS previous, at,
                        at = max(at) OVER () AS last
                 FROM (VALUES ('briefing', t.briefing_at), ('connecting', t.connecting_at),
                              ('completed', t.completed_at), ('cancelled', t.cancelled_at),
                              ('declined', t.declined_at), ('expired', t.expired_at),
                              ('failed', t.failed_at), ('abandoned', t.abandoned_at)) AS v(state, at)
                 WHERE at IS NOT NULL) s
             UNION ALL
             SELECT call_id, NULL, 'call.status_changed',
                    jsonb_build_object('from', 'transferring', 'to', 'active', 'current_agent',
                                       CASE WHEN state = 'completed' THEN to_agent ELSE from_agent END),
                    ended_at
             FROM transfer_plan WHERE ended_at IS NOT NULL
             UNION ALL
             SELECT call_id, transfer_id, 'summary.created',
                    jsonb_strip_nulls(jsonb_build_object('summary_id', id, 'provider', provider, 'model', model,
                                                         'fallback', fallback, 'error', error)),
                    created_at
             FROM summaries
             UNION ALL
             SELECT call_id, NULL, 'participant.joined',
                    jsonb_build_object('room', room, 'identity', identity, 'participant_sid', participant_sid,
                                       'role', role, 'at', joined_at),
                    joined_at
             FROM participants
             UNION ALL
             SELECT call_id, NULL, 'participant.left',
                    jsonb_build_object('room', room, 'identity', identity, 'participant_sid', participant_sid,
                                       'role', role, 'at', left_at),
                    left_at
             FROM participants WHERE left_at IS NOT NULL
         ) e ORDER BY created_at",
    ).await?;

    for (_, definition) in &indexes {
        step(&mut db, definition).await?;
    }
    step(&mut db, "SET session_replication_role = origin").await?;
    step(&mut db, "VACUUM ANALYZE").await?;
    // The mark that the set is whole: a load cut short leaves none, and is made again.
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut db)
        .await?;
    step(
        &mut db,
        &format!("COMMENT ON DATABASE \"{database}\" IS '{GENERATED_MARK}{calls}'"),
    )
    .await?;
    let counts: (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM calls), (SELECT count(*) FROM transcript_segments),
                (SELECT count(*) FROM transfers), (SELECT count(*) FROM summaries),
                (SELECT count(*) FROM events)",
    )
    .fetch_one(&mut db)
    .await?;
    db.close().await?;
    Ok(Generated {
        calls: counts.0,
        segments: counts.1,
        transfers: counts.2,
        summaries: counts.3,
        events: counts.4,
        took: started.elapsed(),
    })
}

/// Runs one statement of the load, saying how long it took (a million calls take minutes).
async fn step(db: &mut PgConnection, sql: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut *db)
        .await
        .map_err(|e| anyhow::anyhow!("{e}\nin: {}", first_line(sql)))?;
    eprintln!(
        "  {:>7.1}s  {}",
        started.elapsed().as_secs_f64(),
        first_line(sql)
    );
    Ok(())
}

fn first_line(sql: &str) -> &str {
    sql.trim().lines().next().unwrap_or_default()
}

/// A SQL array literal of constant words (none holds a quote).
fn sql_text_array(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    format!("ARRAY[{}]", quoted.join(","))
}

/// Latencies of the history requests a supervisor and QA make, measured one at a time on a
/// service at `base` whose database is `database_url` (for picking what to ask for): search
/// (rare, uncommon, common words, a phrase, no match, with filters), paging, the prototype's
/// active list and caller status, timelines and replays. `runs` requests each.
pub async fn history_latencies(
    client: &reqwest::Client,
    base: &str,
    database_url: &str,
    runs: usize,
) -> anyhow::Result<Vec<(String, Vec<Duration>)>> {
    let mut db = PgConnection::connect(database_url).await?;
    let limit = runs as i64;
    // Order numbers are the rarest words: one or two calls each.
    let rare: Vec<String> = sqlx::query_scalar(
        "SELECT substring(text FROM 'order ([0-9]{6})') FROM transcript_segments TABLESAMPLE SYSTEM (1)
         WHERE text ~ 'order [0-9]{6}' LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut db)
    .await?;
    let calls: Vec<(uuid::Uuid, String)> = sqlx::query_as(
        "SELECT id, caller_name FROM calls TABLESAMPLE SYSTEM (1) ORDER BY random() LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut db)
    .await?;
    let transfers: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT id FROM transfers TABLESAMPLE SYSTEM (5) ORDER BY random() LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut db)
    .await?;
    // Callers who called many times: the prototype's status looks up their latest call.
    let returning: Vec<String> = sqlx::query_scalar(
        "SELECT caller_name FROM calls WHERE created_at > now() - interval '7 days'
         GROUP BY caller_name ORDER BY count(*) DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut db)
    .await?;
    db.close().await?;
    anyhow::ensure!(
        !rare.is_empty() && !calls.is_empty() && !transfers.is_empty(),
        "the database has no history to measure: generate it first"
    );
    let uncommon = ["zorisan", "kaquilyn", "quilytan", "zonelon", "kazokan"];
    let common = ["refund", "order", "called", "password", "account"];
    let month_ago = (chrono::Utc::now() - chrono::Duration::days(30)).to_rfc3339();
    let pick = |list: &[String], i: usize| list[i % list.len()].clone();
    let agent = |i: usize| format!("agent_{:04}", 1 + (i * 13) % 200);
    let search = |q: String, extra: &str| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("q", &q);
        format!("/v1/calls?{}{extra}", query.finish())
    };
    // A search for each of `words` in turn, with the same other parameters.
    let in_turn = |words: &[&str], extra: &str| -> Vec<String> {
        (0..runs)
            .map(|i| search(words[i % words.len()].into(), extra))
            .collect()
    };
    let encoded = |t: chrono::DateTime<chrono::Utc>| {
        url::form_urlencoded::byte_serialize(t.to_rfc3339().as_bytes()).collect::<String>()
    };
    let month = encoded(chrono::Utc::now() - chrono::Duration::days(30));
    let year = encoded(chrono::Utc::now() - chrono::Duration::days(365));
    let with_status = format!(
        "&status=ended&created_after={}",
        url::form_urlencoded::byte_serialize(month_ago.as_bytes()).collect::<String>()
    );
    let mut paths: Vec<(&str, Vec<String>)> = vec![
        (
            "GET /v1/calls?q= rare word",
            (0..runs).map(|i| search(pick(&rare, i), "")).collect(),
        ),
        ("GET /v1/calls?q= uncommon word", in_turn(&uncommon, "")),
        ("GET /v1/calls?q= common word", in_turn(&common, "")),
        (
            "GET /v1/calls?q= phrase",
            (0..runs)
                .map(|i| search(format!("\"{}\"", PHRASES[i % PHRASES.len()]), ""))
                .collect(),
        ),
        (
            "GET /v1/calls?q= no match",
            (0..runs)
                .map(|i| search(format!("nomatch{i}"), ""))
                .collect(),
        ),
        (
            "GET /v1/calls?q= rare + status + 30 days",
            (0..runs)
                .map(|i| search(pick(&rare, i), &with_status))
                .collect(),
        ),
        (
            "GET /v1/calls?q= common + status + 30 days",
            in_turn(&common, &with_status),
        ),
        (
            "GET /v1/calls?q= uncommon + agent",
            (0..runs)
                .map(|i| search(uncommon[i % 5].into(), &format!("&agent={}", agent(i))))
                .collect(),
        ),
        (
            "GET /v1/calls?q= common + agent",
            (0..runs)
                .map(|i| search(common[i % 5].into(), &format!("&agent={}", agent(i))))
                .collect(),
        ),
        (
            "GET /v1/calls?q= uncommon + transfer state, outcome",
            in_turn(&uncommon, "&transfer_state=declined&transfer_outcome=busy"),
        ),
        (
            "GET /v1/calls?q= uncommon + sentiment",
            in_turn(&uncommon, "&sentiment=frustrated"),
        ),
        (
            "GET /v1/calls?q= uncommon + min duration",
            in_turn(&uncommon, "&min_duration_secs=600"),
        ),
        (
            "GET /v1/calls agent=",
            (0..runs)
                .map(|i| format!("/v1/calls?agent={}", agent(i)))
                .collect(),
        ),
        (
            "GET /v1/calls sentiment=",
            (0..runs)
                .map(|i| {
                    let sentiment = ["positive", "neutral", "negative", "frustrated"][i % 4];
                    format!("/v1/calls?sentiment={sentiment}")
                })
                .collect(),
        ),
        (
            "GET /v1/calls transfer state, outcome",
            (0..runs)
                .map(|_| {
                    "/v1/calls?transfer_state=failed&transfer_outcome=handoff_timeout".to_owned()
                })
                .collect(),
        ),
        (
            "GET /v1/calls?q= uncommon, sort=relevance",
            in_turn(&uncommon, "&sort=relevance"),
        ),
        (
            "GET /v1/calls?q= common, sort=relevance",
            in_turn(&common, "&sort=relevance"),
        ),
        (
            "GET /v1/calls?q= rare, sort=relevance",
            (0..runs)
                .map(|i| search(pick(&rare, i), "&sort=relevance"))
                .collect(),
        ),
        (
            "GET /v1/stats (last 7 days)",
            (0..runs).map(|_| "/v1/stats".to_owned()).collect(),
        ),
        (
            "GET /v1/stats 30 days, bucket=day",
            (0..runs)
                .map(|_| format!("/v1/stats?from={month}&bucket=day"))
                .collect(),
        ),
        (
            "GET /v1/stats 366 days, agent=",
            (0..runs)
                .map(|i| format!("/v1/stats?from={year}&agent={}", agent(i)))
                .collect(),
        ),
        (
            "GET /v1/stats 30 days, team=, bucket=hour",
            (0..runs)
                .map(|i| {
                    format!(
                        "/v1/stats?from={month}&bucket=hour&team={}",
                        ["billing", "technical", "sales", "retention"][i % 4]
                    )
                })
                .collect(),
        ),
        (
            "GET /calls/active",
            (0..runs).map(|_| "/calls/active".to_owned()).collect(),
        ),
        (
            "GET /v1/calls/{id}/timeline",
            (0..runs)
                .map(|i| format!("/v1/calls/{}/timeline", calls[i % calls.len()].0))
                .collect(),
        ),
        (
            "GET /v1/transfers/{id}/replay",
            (0..runs)
                .map(|i| format!("/v1/transfers/{}/replay", transfers[i % transfers.len()]))
                .collect(),
        ),
    ];
    if !returning.is_empty() {
        paths.push((
            "GET /caller/{name}/transfer-status",
            (0..runs)
                .map(|i| {
                    let name = pick(&returning, i);
                    format!(
                        "/caller/{}/transfer-status",
                        url::form_urlencoded::byte_serialize(name.as_bytes())
                            .collect::<String>()
                            .replace('+', "%20")
                    )
                })
                .collect(),
        ));
    }
    let mut results = Vec::new();
    for (name, list) in paths {
        let mut latencies = Vec::with_capacity(list.len());
        for path in list {
            let (took, _) = timed_get(client, base, &path).await?;
            latencies.push(took);
        }
        results.push((name.to_owned(), latencies));
    }
    // Paging: the first pages of the plain list, each page after the cursor of the last.
    let mut latencies = Vec::with_capacity(runs);
    let mut cursor: Option<String> = None;
    for _ in 0..runs {
        let path = match &cursor {
            Some(c) => format!("/v1/calls?limit=50&cursor={c}"),
            None => "/v1/calls?limit=50".to_owned(),
        };
        let (took, body) = timed_get(client, base, &path).await?;
        latencies.push(took);
        cursor = body["next_cursor"].as_str().map(str::to_owned);
    }
    results.push(("GET /v1/calls paging (limit 50)".to_owned(), latencies));
    Ok(results)
}

/// One GET, timed; anything but 200 is an error.
async fn timed_get(
    client: &reqwest::Client,
    base: &str,
    path: &str,
) -> anyhow::Result<(Duration, serde_json::Value)> {
    let started = Instant::now();
    let response = client.get(format!("{base}{path}")).send().await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let took = started.elapsed();
    anyhow::ensure!(status.is_success(), "GET {path}: {status}: {body}");
    Ok((took, body))
}
