//! The embedded call store: a SQLite file of its own (never the control-plane store), in WAL
//! mode so that the admin API reads while the workers write. A call's row id is its start time
//! (`ID_SHIFT` bits up) with the writer and a counter below: the table is kept in time order
//! with no index of its own, a time range is a range of row ids, and deleting the oldest
//! calls deletes the first pages. Each call is a row holding its
//! whole record as JSON, beside the columns a filter reads; `usage_minute`, `usage_hour` and
//! `usage_day` hold the totals, added to in the same transaction as the calls.

// Only the call store's writer threads and the admin process (in `spawn_blocking`) come here.
#![allow(clippy::disallowed_methods)]

use super::hist::Hist;
use super::query::{Bucket, CallFilter, CallPage, Cursor, Percentiles, UsageQuery, UsageRow};
use super::rollup::{self, Dims, Totals};
use super::{Call, CallStore, CallStoreError, Pruned};
use crate::config::CallStoreSettings;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    tenant TEXT,
    app TEXT,
    key TEXT,
    route TEXT NOT NULL,
    model TEXT,
    provider TEXT,
    status INTEGER NOT NULL,
    error_code TEXT,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS call_ids (
    last_id INTEGER PRIMARY KEY,
    ids BLOB NOT NULL
);
";

/// The columns of every totals table, after `bucket` and the six dimensions.
const TOTALS: &str = "requests INTEGER NOT NULL, errors INTEGER NOT NULL, \
    client_errors INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL, \
    completion_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL, \
    reasoning_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL, latency BLOB NOT NULL, \
    ttfb BLOB NOT NULL";

/// A row id is `start ms << ID_SHIFT | writer << 12 | counter`: 4096 calls per writer per
/// millisecond, 256 writers, and start times until the year 2248.
const ID_SHIFT: u32 = 20;

/// The first row id of calls that started at `ms`.
fn first_id(ms: i64) -> i64 {
    ms.clamp(0, i64::MAX >> ID_SHIFT) << ID_SHIFT
}

/// How many calls one delete removes, so that the workers' writes wait little on it.
const DELETE_CHUNK: i64 = 5_000;

pub struct SqliteCalls {
    conn: Connection,
    settings: CallStoreSettings,
    /// This writer's place in the row ids (the worker's slot), and its counter.
    writer: i64,
    counter: i64,
}

impl SqliteCalls {
    /// Opens (creating if needed) the file for writing and querying; `writer` (0 to 255) tells
    /// this writer's calls from those of the other workers.
    pub fn open(settings: &CallStoreSettings, writer: u8) -> Result<SqliteCalls, CallStoreError> {
        let conn = Connection::open(&settings.path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // Both take effect only on a new file, before its first table and before WAL mode.
        // Pruning gives pages back to the file system; 16 KiB pages take a batch to the WAL
        // in a quarter of the writes of SQLite's 4 KiB.
        conn.pragma_update(None, "page_size", 16_384)?;
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        conn.execute_batch(SCHEMA)?;
        for b in Bucket::ALL {
            conn.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {} (bucket INTEGER NOT NULL, tenant TEXT NOT NULL, \
                 app TEXT NOT NULL, key TEXT NOT NULL, route TEXT NOT NULL, model TEXT NOT NULL, \
                 provider TEXT NOT NULL, {TOTALS}, \
                 PRIMARY KEY (bucket, tenant, app, key, route, model, provider)) WITHOUT ROWID",
                b.table()
            ))?;
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.create_scalar_function("hist_add", 2, FunctionFlags::SQLITE_DETERMINISTIC, |f| {
            let mut a = Hist::from_bytes(&f.get::<Vec<u8>>(0)?);
            a.add_bytes(&f.get::<Vec<u8>>(1)?);
            Ok(a.to_bytes())
        })?;
        Ok(SqliteCalls {
            conn,
            settings: settings.clone(),
            writer: i64::from(writer),
            counter: 0,
        })
    }

    /// Opens an existing file for queries only (the admin process).
    pub fn open_read_only(settings: &CallStoreSettings) -> Result<SqliteCalls, CallStoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&settings.path, flags)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(SqliteCalls {
            conn,
            settings: settings.clone(),
            writer: 0,
            counter: 0,
        })
    }

    fn add_totals(
        tx: &rusqlite::Transaction<'_>,
        minutes: &std::collections::HashMap<(i64, Dims<'_>), Totals>,
    ) -> Result<(), CallStoreError> {
        for b in Bucket::ALL {
            let mut up = tx.prepare_cached(&format!(
                "INSERT INTO {} VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, \
                 ?14, ?15, ?16, ?17) ON CONFLICT DO UPDATE SET \
                 requests = requests + excluded.requests, errors = errors + excluded.errors, \
                 client_errors = client_errors + excluded.client_errors, \
                 prompt_tokens = prompt_tokens + excluded.prompt_tokens, \
                 completion_tokens = completion_tokens + excluded.completion_tokens, \
                 cached_tokens = cached_tokens + excluded.cached_tokens, \
                 reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens, \
                 cost_usd = cost_usd + excluded.cost_usd, \
                 latency = hist_add(latency, excluded.latency), \
                 ttfb = hist_add(ttfb, excluded.ttfb)",
                b.table()
            ))?;
            for ((minute, d), t) in minutes {
                let bucket = minute.div_euclid(b.ms()) * b.ms();
                up.execute(params![
                    bucket,
                    d.tenant,
                    d.app,
                    d.key,
                    d.route,
                    d.model,
                    d.provider,
                    t.counts.requests as i64,
                    t.counts.errors as i64,
                    t.counts.client_errors as i64,
                    t.counts.prompt_tokens as i64,
                    t.counts.completion_tokens as i64,
                    t.counts.cached_tokens as i64,
                    t.counts.reasoning_tokens as i64,
                    t.counts.cost_usd,
                    t.latency.to_bytes(),
                    t.ttfb.to_bytes(),
                ])?;
            }
        }
        Ok(())
    }

    /// Bytes the file's live pages take (free pages excluded: they are reused).
    pub(super) fn used_bytes(&self) -> Result<i64, CallStoreError> {
        let pragma = |name: &str| -> Result<i64, CallStoreError> {
            Ok(self
                .conn
                .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?)
        };
        Ok((pragma("page_count")? - pragma("freelist_count")?) * pragma("page_size")?)
    }

    /// Deletes calls that started before `cutoff` (Unix ms), a chunk at a time; returns how
    /// many.
    fn delete_older(&self, cutoff: i64) -> Result<u64, CallStoreError> {
        let mut total = 0;
        loop {
            let n = self.conn.execute(
                "DELETE FROM calls WHERE id IN (SELECT id FROM calls WHERE id < ?1 LIMIT ?2)",
                params![first_id(cutoff), DELETE_CHUNK],
            )?;
            self.conn.execute(
                "DELETE FROM call_ids WHERE last_id < (SELECT coalesce(min(id), ?1) FROM calls)",
                params![first_id(cutoff)],
            )?;
            total += n as u64;
            if (n as i64) < DELETE_CHUNK {
                return Ok(total);
            }
        }
    }

    /// Deletes the oldest `n` calls.
    fn delete_oldest(&self, n: i64) -> Result<u64, CallStoreError> {
        let deleted = self.conn.execute(
            "DELETE FROM calls WHERE id IN (SELECT id FROM calls ORDER BY id LIMIT ?1)",
            params![n],
        )?;
        self.conn.execute(
            "DELETE FROM call_ids WHERE last_id < (SELECT coalesce(min(id), 1 << 62) FROM calls)",
            [],
        )?;
        Ok(deleted as u64)
    }
}

/// How a call is found by its request id: `call_ids` holds one row per batch, keyed by its
/// newest row id, with each call's hash of its request id and row id (16 bytes a call), and is
/// scanned newest first. An index on the id would be cheaper to read but not to write: ids
/// come in no order, so every call would dirty an index page of its own, and each page goes
/// to the WAL whole; a row per call would double the rows a batch inserts.
fn request_hash(id: &str) -> i64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

impl CallStore for SqliteCalls {
    fn insert(&mut self, calls: &[Call<'_>]) -> Result<(), CallStoreError> {
        if calls.is_empty() {
            return Ok(());
        }
        let minutes = rollup::by_minute(calls.iter().map(|c| &c.record));
        let (writer, mut counter) = (self.writer, self.counter);
        let tx = self.conn.transaction()?;
        {
            let mut ins = tx.prepare_cached(
                "INSERT INTO calls (id, tenant, app, key, route, model, provider, status, \
                 error_code, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let mut ids = Vec::with_capacity(calls.len() * 16);
            let mut newest = i64::MIN;
            for c in calls {
                let r = &c.record;
                let model = Some(rollup::model_of(r)).filter(|m| !m.is_empty());
                counter = (counter + 1) & 0xfff;
                let id = first_id(r.unix_ms()) | writer << 12 | counter;
                ids.extend_from_slice(&request_hash(&r.request_id).to_le_bytes());
                ids.extend_from_slice(&id.to_le_bytes());
                newest = newest.max(id);
                ins.execute(params![
                    id,
                    r.tenant,
                    r.app,
                    r.key,
                    r.route,
                    model,
                    r.llm.as_deref().map(|l| l.provider.as_str()),
                    r.status,
                    r.error_code,
                    c.json,
                ])?;
            }
            tx.prepare_cached("INSERT INTO call_ids (last_id, ids) VALUES (?1, ?2)")?
                .execute(params![newest, ids])?;
        }
        Self::add_totals(&tx, &minutes)?;
        tx.commit()?;
        self.counter = counter;
        Ok(())
    }

    fn prune(&mut self, now_ms: i64) -> Result<Pruned, CallStoreError> {
        let mut pruned = Pruned {
            calls: self.delete_older(now_ms - ms(self.settings.retention))?,
            totals: 0,
        };
        for (b, keep) in Bucket::ALL.into_iter().zip(self.settings.rollups) {
            // A bucket goes once all of it is past its retention.
            pruned.totals += self.conn.execute(
                &format!("DELETE FROM {} WHERE bucket + ?1 <= ?2", b.table()),
                params![b.ms(), now_ms - ms(keep)],
            )? as u64;
        }
        // A twentieth of the calls at a time: close to the cap without a count per call. The
        // count reads the whole table, so only a store over its cap pays for it.
        let mut step = 0;
        while self.used_bytes()? > self.settings.max_size as i64 {
            if step == 0 {
                let rows: i64 = self
                    .conn
                    .query_row("SELECT count(*) FROM calls", [], |r| r.get(0))?;
                step = (rows / 20).max(1);
            }
            let n = self.delete_oldest(step)?;
            pruned.calls += n;
            if n == 0 {
                break;
            }
        }
        if pruned.calls + pruned.totals > 0 {
            // Every step of the pragma frees pages; the file shrinks when the WAL is written
            // back into it.
            let mut vacuum = self.conn.prepare("PRAGMA incremental_vacuum")?;
            let mut steps = vacuum.query([])?;
            while steps.next()?.is_some() {}
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(pruned)
    }

    fn calls(&self, f: &CallFilter) -> Result<CallPage, CallStoreError> {
        let mut sql = String::from("SELECT id, record FROM calls WHERE 1 = 1");
        let mut args: Vec<Value> = Vec::new();
        let mut cond = |sql: &mut String, clause: &str, v: Value| {
            sql.push_str(" AND ");
            sql.push_str(clause);
            args.push(v);
        };
        if let Some(from) = f.from {
            cond(&mut sql, "id >= ?", first_id(from).into());
        }
        if let Some(to) = f.to {
            cond(&mut sql, "id < ?", first_id(to).into());
        }
        let texts = [
            ("tenant", &f.tenant),
            ("app", &f.app),
            ("key", &f.key),
            ("route", &f.route),
            ("model", &f.model),
            ("provider", &f.provider),
            ("error_code", &f.error_code),
        ];
        for (column, value) in texts {
            if let Some(v) = value {
                cond(&mut sql, &format!("{column} = ?"), v.clone().into());
            }
        }
        if let Some(p) = &f.path {
            // The path is read from the record: no column (and no index) for a filter that
            // matches inside the text; the other filters and the id range narrow the scan.
            // First a test of the record's raw text, which costs a memchr where reading the
            // JSON costs a parse: exact for text the record writes as is (JSON escapes only
            // `"`, `\` and control characters), so it only skips rows that cannot match.
            if !p.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
                cond(&mut sql, "instr(record, ?) > 0", p.clone().into());
            }
            cond(
                &mut sql,
                "instr(record ->> '$.path', ?) > 0",
                p.clone().into(),
            );
        }
        match f.status_class {
            Some(0) => sql.push_str(" AND status = 0"),
            Some(c) => {
                cond(&mut sql, "status >= ?", i64::from(c * 100).into());
                cond(&mut sql, "status < ?", i64::from(c * 100 + 100).into());
            }
            None => {}
        }
        if let Some(c) = f.cursor {
            cond(&mut sql, "id < ?", c.0.into());
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        args.push((f.limit as i64 + 1).into());
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut page = CallPage {
            calls: Vec::new(),
            next_cursor: None,
        };
        let mut last = None;
        for row in rows {
            let (id, record) = row?;
            if page.calls.len() == f.limit {
                page.next_cursor = last.map(|c: Cursor| c.encode());
                break;
            }
            page.calls.push(json(&record));
            last = Some(Cursor(id));
        }
        Ok(page)
    }

    fn call(
        &self,
        request_id: &str,
        tenant: Option<&str>,
    ) -> Result<Option<serde_json::Value>, CallStoreError> {
        let hash = request_hash(request_id);
        let mut batches = self
            .conn
            .prepare_cached("SELECT ids FROM call_ids ORDER BY last_id DESC")?;
        let mut batches = batches.query([])?;
        let mut get = self.conn.prepare_cached(
            "SELECT record FROM calls WHERE id = ?1 AND record ->> '$.request_id' = ?2 \
             AND (?3 IS NULL OR tenant = ?3)",
        )?;
        while let Some(row) = batches.next()? {
            let blob: Vec<u8> = row.get(0)?;
            let mut found: Vec<i64> = blob
                .chunks_exact(16)
                .filter(|c| c[..8] == hash.to_le_bytes())
                .map(|c| i64::from_le_bytes(c[8..].try_into().unwrap_or_default()))
                .collect();
            found.sort_unstable_by(|a, b| b.cmp(a));
            for id in found {
                let record: Option<String> = get
                    .query_row(params![id, request_id, tenant], |r| r.get(0))
                    .optional()?;
                if let Some(r) = record {
                    return Ok(Some(json(&r)));
                }
            }
        }
        Ok(None)
    }

    fn usage(&self, q: &UsageQuery) -> Result<Vec<UsageRow>, CallStoreError> {
        let size = q.bucket.ms();
        let from = q.from.div_euclid(size) * size;
        let sql = format!(
            "SELECT bucket, {}, requests, errors, client_errors, prompt_tokens, \
             completion_tokens, cached_tokens, reasoning_tokens, cost_usd, latency, ttfb \
             FROM {} WHERE bucket >= ?1 AND bucket < ?2 AND (?3 IS NULL OR tenant = ?3)",
            q.group_by.column(),
            q.bucket.table()
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params![from, q.to, q.tenant])?;
        // A day of hourly totals of a busy host is 100,000 rows (one per tenant, app, key,
        // route, model and provider that called in the hour) of a few groups: each row is
        // added to its group's total without allocating (a group's name is copied once).
        // Measured slower: `GROUP BY` in SQL, which sorts every row before adding it up.
        let mut sums: BTreeMap<i64, HashMap<String, Totals>> = BTreeMap::new();
        while let Some(r) = rows.next()? {
            let groups = sums.entry(r.get(0)?).or_default();
            let group = r.get_ref(1)?.as_str().map_err(|e| from_sql(1, e))?;
            if !groups.contains_key(group) {
                groups.insert(group.to_string(), Totals::default());
            }
            let Some(t) = groups.get_mut(group) else {
                continue;
            };
            let int = |i| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
            t.counts.requests += int(2)?;
            t.counts.errors += int(3)?;
            t.counts.client_errors += int(4)?;
            t.counts.prompt_tokens += int(5)?;
            t.counts.completion_tokens += int(6)?;
            t.counts.cached_tokens += int(7)?;
            t.counts.reasoning_tokens += int(8)?;
            t.counts.cost_usd += r.get::<_, f64>(9)?;
            t.latency
                .add_bytes(r.get_ref(10)?.as_blob().map_err(|e| from_sql(10, e))?);
            t.ttfb
                .add_bytes(r.get_ref(11)?.as_blob().map_err(|e| from_sql(11, e))?);
        }
        Ok(sums
            .into_iter()
            .flat_map(|(bucket, groups)| {
                let mut groups: Vec<_> = groups.into_iter().collect();
                groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                groups.into_iter().map(move |(group, t)| (bucket, group, t))
            })
            .map(|(bucket, group, t)| UsageRow {
                bucket: crate::base::time::format_date(bucket.div_euclid(1000)),
                group,
                latency_ms: Percentiles::of(&t.latency),
                ttfb_ms: Percentiles::of(&t.ttfb),
                counts: t.counts,
            })
            .collect())
    }
}

/// A column of the wrong type, as rusqlite's `get` would say it.
fn from_sql(column: usize, e: rusqlite::types::FromSqlError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Null, Box::new(e))
}

/// A stored record as JSON; one that does not parse (a foreign write) is shown as its text.
fn json(record: &str) -> serde_json::Value {
    serde_json::from_str(record).unwrap_or_else(|_| serde_json::Value::String(record.into()))
}
