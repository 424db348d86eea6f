//! `deltachain import`: a bank's or data provider's monthly file, loaded
//! row by row, every row accounted for.
//!
//! ## How an interrupted import resumes without sending anything twice
//!
//! Each row that passes the checks gets the nonce `base + i`, where `i` is
//! its position among such rows and `base` is fixed when the import first
//! starts. Ed25519 signatures are deterministic, so a row signed again on
//! a later run is the same transaction with the same hash, and a node that
//! already has it answers "pending" or "committed" instead of applying it
//! again. The state directory beside the file (`<file>.import/`) keeps
//! `base`, the file's hash, the rows refused before signing, and an
//! append-only log of every receipt seen; a rerun skips the rows the log
//! holds, asks the node about the rest, and resubmits what it does not
//! have. A changed file is refused: its rows would get other nonces.

use std::collections::{BTreeMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use deltachain_protocol::{
    CreditCorrection, Hash, Keypair, Payload, ReceivableRegister, Signature, SignedTransaction,
    Transaction,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::records::{self, PublicFields, ReceivableInput};
use crate::{Admission, Client, ClientError};

/// How long without a receipt before everything out is sent again.
const STALL: Duration = Duration::from_secs(20);

/// Largest file imported (the rows are held in memory while signing).
pub const MAX_FILE_BYTES: u64 = 2 << 30;
/// Most columns a row may have.
const MAX_COLUMNS: usize = 64;

/// What the rows of a file are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Credit records.
    Credit,
    /// Public-credit records.
    Public,
    /// Receivables with their debtors' confirmations.
    Receivable,
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "credit" => Ok(Kind::Credit),
            "public" => Ok(Kind::Public),
            "receivable" => Ok(Kind::Receivable),
            other => Err(format!(
                "unknown kind {:?}; expected credit, public or receivable",
                deltachain_protocol::validate::truncate(other)
            )),
        }
    }
}

impl Kind {
    /// The columns of the kind's layout: required ones first, then optional.
    pub fn columns(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Kind::Credit => (
                &["enterprise", "kind", "reference", "date"],
                &["amount", "currency", "rating", "note"],
            ),
            Kind::Public => (
                &["enterprise", "category", "period", "source"],
                &[
                    "grade",
                    "amount",
                    "headcount",
                    "arrears",
                    "utility",
                    "status",
                    "months",
                    "case_number",
                    "authority",
                    "decision_number",
                    "note",
                ],
            ),
            Kind::Receivable => (
                &[
                    "receivable_id",
                    "creditor",
                    "debtor",
                    "amount",
                    "issued",
                    "due",
                    "invoices",
                    "contract",
                    "debtor_signature",
                ],
                &["currency", "collateral_registration"],
            ),
        }
    }
}

/// One data row of the file.
#[derive(Debug)]
pub struct Row {
    /// Line number in the file (a quoted field may span lines).
    pub line: u64,
    /// The cells as read (lossy UTF-8), for the rejects file.
    pub fields: Vec<String>,
    /// The payload, or why the row is refused.
    pub payload: Result<Payload, String>,
}

/// Reads and checks every row. A row that cannot be read or fails a check
/// carries its reason; the others carry their payload. Public for the
/// fuzz target, which feeds it arbitrary files.
pub fn read_rows(bytes: &[u8], kind: Kind) -> Result<(Vec<String>, Vec<Row>), String> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(bytes);
    let mut records = rdr.byte_records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(format!("cannot read the header row: {e}")),
        None => return Err("the file is empty; it needs a header row".into()),
    };
    let header: Vec<String> = header
        .iter()
        .map(|f| {
            String::from_utf8_lossy(f)
                .trim_start_matches('\u{feff}')
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    let (required, optional) = kind.columns();
    for c in required {
        if !header.iter().any(|h| h == c) {
            return Err(format!(
                "the header lacks column {c:?}; a {kind:?} file has columns {} (optional: {})",
                required.join(","),
                optional.join(",")
            ));
        }
    }
    if let Some(h) = header
        .iter()
        .find(|h| !required.contains(&h.as_str()) && !optional.contains(&h.as_str()))
    {
        return Err(format!(
            "unknown column {h:?} in the header; a {kind:?} file has columns {} (optional: {})",
            required.join(","),
            optional.join(",")
        ));
    }
    if header.len() > MAX_COLUMNS {
        return Err(format!("the header has {} columns", header.len()));
    }
    let lines = Lines::of(bytes);
    let mut rows: Vec<Row> = Vec::new();
    for rec in records {
        let (line, fields, err) = match rec {
            Ok(r) => {
                let line = r.position().map_or(0, |p| lines.of_record(bytes, p));
                let mut fields = Vec::with_capacity(r.len());
                let mut err = None;
                for (i, f) in r.iter().enumerate() {
                    match std::str::from_utf8(f) {
                        Ok(s) => fields.push(s.trim().to_string()),
                        Err(_) => {
                            fields.push(String::from_utf8_lossy(f).into_owned());
                            err.get_or_insert(format!(
                                "column {} is not valid UTF-8 (save the file as UTF-8)",
                                header.get(i).map_or("?", |h| h.as_str())
                            ));
                        }
                    }
                }
                if err.is_none() && fields.len() != header.len() {
                    err = Some(format!(
                        "the row has {} columns, the header {}",
                        fields.len(),
                        header.len()
                    ));
                }
                (line, fields, err)
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.of_record(bytes, p));
                (line, Vec::new(), Some(format!("cannot read the row: {e}")))
            }
        };
        if fields.iter().all(|f| f.is_empty()) && err.is_none() {
            continue; // blank line
        }
        let payload = match err {
            Some(e) => Err(e),
            None => {
                let cells = Cells {
                    header: &header,
                    fields: &fields,
                };
                build(kind, &cells).map_err(|e| match e {
                    // The builders name CLI flags; a file has columns.
                    ClientError::Input(m) => m.strip_prefix("--").map(str::to_string).unwrap_or(m),
                    other => other.to_string(),
                })
            }
        };
        // The importer's state is keyed by line: two rows on one line
        // would share an outcome. Lines counts every line ending the
        // reader ends a record at, so this is a guard, not a path.
        if let Some(prev) = rows.last().filter(|p| p.line >= line) {
            return Err(format!(
                "rows at lines {} and {line} cannot be told apart by line; save the file with one kind of line ending",
                prev.line
            ));
        }
        rows.push(Row {
            line,
            fields,
            payload,
        });
    }
    Ok((header, rows))
}

/// A row's cells by column name.
struct Cells<'a> {
    header: &'a [String],
    fields: &'a [String],
}

impl<'a> Cells<'a> {
    /// The cell of column `name`, if the column exists and the cell is not empty.
    fn get(&self, name: &str) -> Option<&'a str> {
        self.header
            .iter()
            .position(|h| h == name)
            .and_then(|i| self.fields.get(i))
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
    }
}

/// Line numbers as a clerk's editor shows them: a line ends at `\n`, at
/// `\r\n`, or at a lone `\r` (old Mac files, and what the CSV reader also
/// ends a record at). The reader's own count ignores a lone `\r`, which
/// gave two records the same line and, since the importer's state is keyed
/// by line, could mark a row done that never was (found by the `csv_rows`
/// fuzz target).
struct Lines {
    /// Byte offset at which each line after the first starts.
    starts: Vec<usize>,
}

impl Lines {
    fn of(bytes: &[u8]) -> Lines {
        let mut starts = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => starts.push(i + 1),
                b'\r' if bytes.get(i + 1) != Some(&b'\n') => starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        Lines { starts }
    }

    /// The line a record starts on. The reader's position can point at
    /// blank lines it skipped before the record; a clerk needs the record's
    /// own line.
    fn of_record(&self, bytes: &[u8], p: &csv::Position) -> u64 {
        let mut at = (p.byte() as usize).min(bytes.len());
        while at < bytes.len() && matches!(bytes[at], b'\n' | b'\r') {
            at += 1;
        }
        1 + self.starts.partition_point(|&s| s <= at) as u64
    }
}

/// The payload of one row, checked as the CLI checks a typed record.
fn build(kind: Kind, cells: &Cells<'_>) -> Result<Payload, ClientError> {
    let get = |c: &str| cells.get(c);
    let need = |c: &str| get(c).ok_or_else(|| ClientError::Input(format!("column {c} is empty")));
    match kind {
        Kind::Credit => records::credit(
            need("enterprise")?,
            need("kind")?,
            need("reference")?,
            get("amount"),
            get("currency").unwrap_or("CNY"),
            need("date")?,
            get("rating"),
            get("note"),
        ),
        Kind::Public => {
            let number = |c: &str| -> Result<Option<u64>, ClientError> {
                get(c)
                    .map(|v| {
                        v.replace(',', "").parse::<u64>().map_err(|_| {
                            ClientError::Input(format!("column {c}: {v:?} is not a whole number"))
                        })
                    })
                    .transpose()
            };
            let headcount = number("headcount")?
                .map(|v| {
                    u32::try_from(v)
                        .map_err(|_| ClientError::Input("column headcount is too large".into()))
                })
                .transpose()?;
            let months = number("months")?
                .map(|v| {
                    u8::try_from(v)
                        .map_err(|_| ClientError::Input("column months is too large".into()))
                })
                .transpose()?;
            records::public_record(
                need("enterprise")?,
                need("category")?,
                need("period")?,
                need("source")?,
                get("note"),
                &PublicFields {
                    grade: get("grade"),
                    amount: get("amount"),
                    headcount,
                    arrears: get("arrears"),
                    utility: get("utility"),
                    status: get("status"),
                    months,
                    case_number: get("case_number"),
                    authority: get("authority"),
                    decision_number: get("decision_number"),
                },
            )
        }
        Kind::Receivable => {
            let invoices: Vec<String> = need("invoices")?
                .split(';')
                .map(|s| s.trim().to_string())
                .collect();
            let terms = records::receivable_terms(&ReceivableInput {
                id: need("receivable_id")?,
                creditor: need("creditor")?,
                debtor: need("debtor")?,
                amount: need("amount")?,
                currency: get("currency").unwrap_or("CNY"),
                issued: need("issued")?,
                due: need("due")?,
                invoices: &invoices,
                contract: need("contract")?,
                collateral_registration: get("collateral_registration"),
            })?;
            let sig = Signature::from_hex(need("debtor_signature")?)
                .map_err(|e| ClientError::Input(format!("column debtor_signature: {e}")))?;
            records::receivable_register(ReceivableRegister {
                terms,
                debtor_signature: sig,
            })
        }
    }
}

/// What is kept beside the file so that a rerun resumes.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    file_sha256: Hash,
    key: deltachain_protocol::PublicKey,
    chain_id: String,
    base_nonce: u64,
    /// Rows refused before signing, with why: fixed at the first run, so
    /// that every later run gives the other rows the same nonces.
    refused: BTreeMap<u64, String>,
}

/// How the import reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A bar redrawn in place (a terminal).
    Bar,
    /// A plain line every few seconds (a log).
    Lines,
    /// Nothing until the summary.
    Quiet,
}

impl Progress {
    /// A bar on a terminal, lines otherwise.
    pub fn for_stderr() -> Progress {
        if std::io::stderr().is_terminal() {
            Progress::Bar
        } else {
            Progress::Lines
        }
    }
}

/// What to import and how.
pub struct Options {
    /// The CSV file.
    pub file: PathBuf,
    /// Its kind.
    pub kind: Kind,
    /// Where to write refused rows (default `<file>.rejects.csv`).
    pub rejects: Option<PathBuf>,
    /// Most submitted and uncommitted transactions.
    pub max_in_flight: usize,
    /// Transactions per request.
    pub batch: usize,
    /// How long to wait for an unreachable node, or for a node that
    /// commits nothing, before giving up (the state is kept; run again to
    /// resume).
    pub patience: Duration,
    /// Progress reporting.
    pub progress: Progress,
}

/// How every row ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Data rows in the file.
    pub rows: u64,
    /// Committed and applied.
    pub applied: u64,
    /// Committed, refused by a ledger rule (reason in the rejects file).
    pub rejected: u64,
    /// Refused before signing: unreadable or invalid (in the rejects file).
    pub refused: u64,
    /// Of the committed ones, how many were committed by an earlier run.
    pub from_earlier_run: u64,
    /// Where the refused and rejected rows are.
    pub rejects_file: PathBuf,
}

impl Summary {
    /// True when every row is accounted for.
    pub fn complete(&self) -> bool {
        self.applied + self.rejected + self.refused == self.rows
    }
}

fn io(what: &str, path: &Path, e: std::io::Error) -> ClientError {
    ClientError::Input(format!("cannot {what} {}: {e}", path.display()))
}

/// The receipts log: one line per settled row, `line<TAB>A` (applied),
/// `line<TAB>R<TAB>reason` (rejected by the ledger) or `line<TAB>X<TAB>reason`
/// (refused by the node, its nonce used up by a filler), appended as
/// receipts arrive.
struct Log {
    file: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
    last_flush: Instant,
}

impl Log {
    fn open(path: &Path) -> Result<(Log, BTreeMap<u64, Done>), ClientError> {
        let mut done = BTreeMap::new();
        if let Ok(text) = std::fs::read_to_string(path) {
            for l in text.lines() {
                let mut parts = l.splitn(3, '\t');
                let (Some(line), Some(o)) = (parts.next(), parts.next()) else {
                    continue; // a line torn by a crash
                };
                let Ok(line) = line.parse::<u64>() else {
                    continue;
                };
                let mut why = || parts.next().unwrap_or("").to_string();
                match o {
                    "A" => {
                        done.insert(line, Done::Applied);
                    }
                    "R" => {
                        done.insert(line, Done::Rejected(why()));
                    }
                    "X" => {
                        done.insert(line, Done::Refused(why()));
                    }
                    _ => {}
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io("write", path, e))?;
        Ok((
            Log {
                file: std::io::BufWriter::new(file),
                path: path.to_path_buf(),
                last_flush: Instant::now(),
            },
            done,
        ))
    }

    fn record(&mut self, line: u64, outcome: Outcome<'_>) -> Result<(), ClientError> {
        let clean = |r: &str| r.replace(['\n', '\r', '\t'], " ");
        let r = match outcome {
            Outcome::Applied => writeln!(self.file, "{line}\tA"),
            Outcome::Rejected(r) => writeln!(self.file, "{line}\tR\t{}", clean(r)),
            Outcome::Refused(r) => writeln!(self.file, "{line}\tX\t{}", clean(r)),
        };
        r.map_err(|e| io("write", &self.path, e))?;
        if self.last_flush.elapsed() > Duration::from_millis(500) {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ClientError> {
        self.last_flush = Instant::now();
        self.file.flush().map_err(|e| io("write", &self.path, e))?;
        self.file
            .get_ref()
            .sync_data()
            .map_err(|e| io("sync", &self.path, e))
    }
}

/// A row settled by an earlier run.
enum Done {
    Applied,
    Rejected(String),
    Refused(String),
}

/// A signed row on its way. A filler carries the node's reason for
/// refusing the row whose nonce it uses up.
struct Flight {
    line: u64,
    tx: SignedTransaction,
    refused: Option<String>,
}

/// Counters for the progress line.
#[derive(Default)]
struct Counts {
    rows: u64,
    signed: u64,
    submitted: u64,
    applied: u64,
    rejected: u64,
    refused: u64,
    earlier: u64,
}

struct Reporter {
    mode: Progress,
    started: Instant,
    last: Instant,
    committed_at_start: u64,
}

impl Reporter {
    fn show(&mut self, c: &Counts, force: bool) {
        let every = match self.mode {
            Progress::Bar => Duration::from_millis(200),
            Progress::Lines => Duration::from_secs(5),
            Progress::Quiet => return,
        };
        if !force && self.last.elapsed() < every {
            return;
        }
        self.last = Instant::now();
        let committed = c.applied + c.rejected;
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = (committed - self.committed_at_start) as f64 / secs;
        let left = (c.rows - c.refused).saturating_sub(committed);
        let eta = if rate > 0.0 {
            format_secs((left as f64 / rate) as u64)
        } else {
            "-".into()
        };
        let line = format!(
            "rows {} · signed {} · submitted {} · committed {} (applied {}, rejected {}) · refused {} · {}/s · ETA {eta}",
            group(c.rows),
            group(c.signed),
            group(c.submitted),
            group(committed),
            group(c.applied),
            group(c.rejected),
            group(c.refused),
            group(rate as u64)
        );
        let mut err = std::io::stderr().lock();
        let _ = match self.mode {
            Progress::Bar => write!(err, "\r\x1b[2K{line}"),
            _ => writeln!(err, "{:>6.1} s  {line}", secs),
        };
        let _ = err.flush();
    }

    fn done(&mut self) {
        if self.mode == Progress::Bar {
            let _ = writeln!(std::io::stderr());
        }
    }
}

use crate::records::group;

fn format_secs(s: u64) -> String {
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Signs `rows` (payload, nonce) on every core.
fn sign_all(key: &Keypair, chain_id: &str, rows: Vec<(u64, u64, Payload)>) -> Vec<Flight> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = rows.len().div_ceil(threads).max(1);
    let mut chunks: Vec<Vec<(u64, u64, Payload)>> = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        chunks.push(rows.by_ref().take(chunk).collect());
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|c| {
                s.spawn(move || {
                    c.into_iter()
                        .map(|(line, nonce, payload)| Flight {
                            line,
                            refused: None,
                            tx: Transaction {
                                chain_id: chain_id.to_string(),
                                sender: key.public(),
                                nonce,
                                payload,
                            }
                            .sign(key),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect()
    })
}

/// A harmless transaction that uses up `nonce` when the row signed with it
/// was refused at admission (later rows' nonces would wait for it forever):
/// the ledger rejects it, and the row is reported with the node's reason.
fn filler(key: &Keypair, chain_id: &str, nonce: u64) -> SignedTransaction {
    Transaction {
        chain_id: chain_id.to_string(),
        sender: key.public(),
        nonce,
        payload: Payload::CreditCorrection(CreditCorrection {
            original_tx: Hash::ZERO,
            reason: "import: placeholder for a row the node refused".into(),
            withdraw: false,
        }),
    }
    .sign(key)
}

/// Receipts of the importer's own transactions, from the event stream.
fn follow(client: Client) -> tokio::sync::mpsc::Receiver<(Hash, Option<String>)> {
    let (tx, rx) = tokio::sync::mpsc::channel(100_000);
    tokio::spawn(async move {
        loop {
            if let Ok(resp) = client.events().await {
                let mut stream = resp.bytes_stream();
                let mut buf = String::new();
                while let Some(Ok(chunk)) = stream.next().await {
                    for v in crate::sse_events(&mut buf, &chunk) {
                        for r in v["receipts"].as_array().into_iter().flatten() {
                            let Some(h) =
                                r["tx_hash"].as_str().and_then(|h| Hash::from_hex(h).ok())
                            else {
                                continue;
                            };
                            let reason = (r["outcome"] == "rejected")
                                .then(|| r["reason"].as_str().unwrap_or("rejected").to_string());
                            if tx.send((h, reason)).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    rx
}

/// Imports the file with `key`, resuming an interrupted import of the same
/// file. Returns the summary; the rejects file lists every row refused or
/// rejected, with its line number and reason.
pub async fn run(client: &Client, key: &Keypair, opts: &Options) -> Result<Summary, ClientError> {
    let meta = std::fs::metadata(&opts.file).map_err(|e| io("read", &opts.file, e))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(ClientError::Input(format!(
            "{} is {} bytes; split files over {MAX_FILE_BYTES} bytes",
            opts.file.display(),
            meta.len()
        )));
    }
    let bytes = std::fs::read(&opts.file).map_err(|e| io("read", &opts.file, e))?;
    let file_sha256 = deltachain_protocol::crypto::sha256(&bytes);
    let client = client.clone().with_key(key.clone());
    let chain_id = wait_for_node(&client, opts.patience).await?.chain_id;
    let (header, rows) = read_rows(&bytes, opts.kind)
        .map_err(|e| ClientError::Input(format!("{}: {e}", opts.file.display())))?;
    drop(bytes);

    let dir = state_dir(&opts.file);
    std::fs::create_dir_all(&dir).map_err(|e| io("create", &dir, e))?;
    let state_path = dir.join("state.json");
    let state = match std::fs::read_to_string(&state_path) {
        Ok(text) => {
            let s: State = serde_json::from_str(&text).map_err(|e| {
                ClientError::Input(format!(
                    "{} is damaged ({e}); remove it to start afresh",
                    state_path.display()
                ))
            })?;
            if s.file_sha256 != file_sha256 || s.key != key.public() || s.chain_id != chain_id {
                return Err(ClientError::Input(format!(
                    "{} belongs to an interrupted import of another file, key or network; finish that import, or remove {} to start afresh (rows already committed are then rejected as duplicates)",
                    state_path.display(),
                    dir.display()
                )));
            }
            s
        }
        Err(_) => {
            // Codes that fail the check character are refused here unless a
            // regulator admitted them: at admission they would leave a gap
            // in the nonces.
            let mut admitted: BTreeMap<String, bool> = BTreeMap::new();
            let mut refused = BTreeMap::new();
            for r in &rows {
                match &r.payload {
                    Err(e) => {
                        refused.insert(r.line, e.clone());
                    }
                    Ok(p) => {
                        for (field, code) in p.usccs_needing_exception() {
                            let ok = match admitted.get(code) {
                                Some(ok) => *ok,
                                None => {
                                    let ok = client.uscc_exception(code).await?.is_some();
                                    admitted.insert(code.to_string(), ok);
                                    ok
                                }
                            };
                            if !ok {
                                refused.insert(
                                    r.line,
                                    deltachain_protocol::validate::uscc_needs_exception(
                                        field, code,
                                    ),
                                );
                            }
                        }
                    }
                }
            }
            let account = client.account(&key.public()).await?;
            if account.member.is_none() {
                return Err(ClientError::Input(format!(
                    "key {} is not a member of this chain; import with a member's key",
                    key.public()
                )));
            }
            let s = State {
                file_sha256,
                key: key.public(),
                chain_id: chain_id.clone(),
                base_nonce: account.next_nonce,
                refused,
            };
            let tmp = dir.join("state.json.tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(&s).unwrap_or_default())
                .map_err(|e| io("write", &tmp, e))?;
            std::fs::rename(&tmp, &state_path).map_err(|e| io("write", &state_path, e))?;
            s
        }
    };
    let (mut log, done) = Log::open(&dir.join("receipts.log"))?;

    // Nonces: the rows not refused, in file order.
    let mut counts = Counts {
        rows: rows.len() as u64,
        refused: state.refused.len() as u64,
        ..Counts::default()
    };
    let mut reasons: BTreeMap<u64, String> = state.refused.clone();
    let mut queue: Vec<(u64, u64, Payload)> = Vec::new();
    let mut next = state.base_nonce;
    for r in rows {
        if state.refused.contains_key(&r.line) {
            continue;
        }
        let nonce = next;
        next += 1;
        let Ok(payload) = r.payload else {
            // Refused at first run for a reason that has since gone away
            // cannot happen: the refusal set is fixed. Defensive only.
            continue;
        };
        if let Some(outcome) = done.get(&r.line) {
            counts.earlier += 1;
            match outcome {
                Done::Applied => counts.applied += 1,
                Done::Rejected(reason) | Done::Refused(reason) => {
                    if matches!(outcome, Done::Rejected(_)) {
                        counts.rejected += 1;
                    } else {
                        counts.refused += 1;
                    }
                    reasons.insert(r.line, reason.clone());
                }
            }
            continue;
        }
        queue.push((r.line, nonce, payload));
    }
    let mut reporter = Reporter {
        mode: opts.progress,
        started: Instant::now(),
        last: Instant::now() - Duration::from_secs(60),
        committed_at_start: counts.applied + counts.rejected,
    };

    let mut receipts = follow(client.clone());
    let mut in_flight: BTreeMap<Hash, Flight> = BTreeMap::new();
    let mut unsent: VecDeque<Flight> = VecDeque::new();
    let mut queue = queue.into_iter();
    let window = opts.max_in_flight.max(opts.batch) * 2;
    let mut last_progress = Instant::now();
    let mut last_commit = Instant::now();
    let mut lost_since: Option<Instant> = None;

    loop {
        // Sign the next window on every core.
        if unsent.len() < opts.batch {
            let chunk: Vec<_> = queue.by_ref().take(window).collect();
            if !chunk.is_empty() {
                counts.signed += chunk.len() as u64;
                unsent.extend(sign_all(key, &chain_id, chunk));
            }
        }
        // Learn receipts.
        while let Ok((h, reason)) = receipts.try_recv() {
            if let Some(f) = in_flight.remove(&h) {
                settle(&mut log, &mut counts, &mut reasons, &f, reason)?;
                last_progress = Instant::now();
                last_commit = last_progress;
            }
        }
        if unsent.is_empty() && in_flight.is_empty() {
            break;
        }
        // Submit what fits.
        if !unsent.is_empty() && in_flight.len() < opts.max_in_flight {
            let n = opts
                .batch
                .min(opts.max_in_flight - in_flight.len())
                .min(unsent.len());
            let batch: Vec<Flight> = unsent.drain(..n).collect();
            let txs: Vec<SignedTransaction> = batch.iter().map(|f| f.tx.clone()).collect();
            match client.submit_batch_status(&txs).await {
                Ok(results) => {
                    lost_since = None;
                    let mut back = Vec::new();
                    for (f, r) in batch.into_iter().zip(results) {
                        match r {
                            Admission::Pending => {
                                counts.submitted += 1;
                                in_flight.insert(f.tx.hash(), f);
                            }
                            Admission::Committed { applied } => {
                                counts.submitted += 1;
                                let reason = if applied {
                                    None
                                } else {
                                    Some(rejection_reason(&client, &f.tx.hash()).await?)
                                };
                                settle(&mut log, &mut counts, &mut reasons, &f, reason)?;
                                last_progress = Instant::now();
                                last_commit = last_progress;
                            }
                            Admission::Refused { code, .. }
                                if code == "mempool_full" || code == "nonce_too_far" =>
                            {
                                back.push(f)
                            }
                            Admission::Refused { code, message }
                                if code == "stale_nonce" || f.refused.is_some() =>
                            {
                                log.flush()?;
                                return Err(ClientError::Input(format!(
                                    "line {}: the node refused nonce {} of key {} ({code}: {message}); another program used this key's nonces while the import ran. Let it finish, then remove {} and import again: rows already committed are then rejected as duplicates",
                                    f.line,
                                    f.tx.tx.nonce,
                                    key.public(),
                                    state_dir(&opts.file).display()
                                )));
                            }
                            Admission::Refused { code, message } => {
                                // The node refused the row itself: a filler
                                // uses its nonce up so later rows go on, and
                                // the row is reported once the filler commits.
                                let fill = filler(key, &chain_id, f.tx.tx.nonce);
                                unsent.push_front(Flight {
                                    line: f.line,
                                    tx: fill,
                                    refused: Some(format!(
                                        "refused by the node ({code}): {message}"
                                    )),
                                });
                            }
                        }
                    }
                    if !back.is_empty() {
                        for f in back.into_iter().rev() {
                            unsent.push_front(f);
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                Err(e)
                    if e.is_unreachable() || matches!(e, ClientError::Api { status: 503, .. }) =>
                {
                    for f in batch.into_iter().rev() {
                        unsent.push_front(f);
                    }
                    let since = *lost_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > opts.patience {
                        log.flush()?;
                        return Err(e);
                    }
                    reporter.show(&counts, false);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                Err(e) => {
                    log.flush()?;
                    return Err(e);
                }
            }
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Stalled: receipts may have been missed (a reconnect) or the node
        // may have lost its mempool (a restart).
        if !in_flight.is_empty() && last_progress.elapsed() > STALL {
            // A node that takes rows and commits none (consensus stalled,
            // or a quorum of validators down) is not waited on forever.
            if last_commit.elapsed() > opts.patience {
                log.flush()?;
                let first = in_flight
                    .values()
                    .min_by_key(|f| f.tx.tx.nonce)
                    .map(|f| (f.tx.hash(), f.line));
                if let Some((hash, line)) = first {
                    return Err(ClientError::OutcomeUnknown {
                        hash,
                        why: format!(
                            "line {line} and {} more rows were taken by the node, but nothing was committed for {} s: is the network making blocks (`deltachain status`)? Run the import again to resume",
                            in_flight.len() - 1,
                            last_commit.elapsed().as_secs()
                        ),
                    });
                }
            }
            last_progress = Instant::now();
            recover(&mut in_flight, &mut unsent);
        }
        reporter.show(&counts, false);
    }
    log.flush()?;
    reporter.show(&counts, true);
    reporter.done();

    let rejects_file = opts
        .rejects
        .clone()
        .unwrap_or_else(|| with_suffix(&opts.file, ".rejects.csv"));
    // The refused and rejected rows' cells, read again: holding every row's
    // cells through a million-row import would double the importer's memory.
    let bytes = std::fs::read(&opts.file).map_err(|e| io("read", &opts.file, e))?;
    let fields_of: BTreeMap<u64, Vec<String>> = read_rows(&bytes, opts.kind)
        .map(|(_, rows)| rows)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| reasons.contains_key(&r.line))
        .map(|r| (r.line, r.fields))
        .collect();
    write_rejects(&rejects_file, &header, &reasons, &fields_of)?;
    Ok(Summary {
        rows: counts.rows,
        applied: counts.applied,
        rejected: counts.rejected,
        refused: counts.refused,
        from_earlier_run: counts.earlier,
        rejects_file,
    })
}

fn settle(
    log: &mut Log,
    counts: &mut Counts,
    reasons: &mut BTreeMap<u64, String>,
    f: &Flight,
    reason: Option<String>,
) -> Result<(), ClientError> {
    if let Some(why) = &f.refused {
        log.record(f.line, Outcome::Refused(why))?;
        counts.refused += 1;
        reasons.insert(f.line, why.clone());
        return Ok(());
    }
    match reason {
        None => {
            log.record(f.line, Outcome::Applied)?;
            counts.applied += 1;
        }
        Some(r) => {
            log.record(f.line, Outcome::Rejected(&r))?;
            counts.rejected += 1;
            reasons.insert(f.line, r);
        }
    }
    Ok(())
}

/// How a row ended, as the receipts log keeps it.
enum Outcome<'a> {
    Applied,
    Rejected(&'a str),
    Refused(&'a str),
}

async fn rejection_reason(client: &Client, hash: &Hash) -> Result<String, ClientError> {
    let t = client.tx(hash).await?;
    Ok(t.receipt
        .and_then(|r| r.reason)
        .unwrap_or_else(|| "rejected".into()))
}

/// After a stall (receipts missed across a reconnect, or a mempool lost in
/// a node restart): everything out goes through the batch route again,
/// lowest nonce first. The same bytes are never applied twice: the node
/// answers "committed" (with the outcome) for what it has committed,
/// "pending" for what it holds, and admits what it lost.
fn recover(in_flight: &mut BTreeMap<Hash, Flight>, unsent: &mut VecDeque<Flight>) {
    let mut rest: Vec<Flight> = std::mem::take(in_flight).into_values().collect();
    rest.sort_by_key(|f| f.tx.tx.nonce);
    for f in rest.into_iter().rev() {
        unsent.push_front(f);
    }
}

async fn wait_for_node(client: &Client, patience: Duration) -> Result<crate::Status, ClientError> {
    let started = Instant::now();
    loop {
        match client.status().await {
            Ok(s) => return Ok(s),
            Err(e) if e.is_unreachable() && started.elapsed() < patience => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            Err(e) => return Err(e),
        }
    }
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Where an import of `file` keeps its state.
pub fn state_dir(file: &Path) -> PathBuf {
    with_suffix(file, ".import")
}

fn write_rejects(
    path: &Path,
    header: &[String],
    reasons: &BTreeMap<u64, String>,
    fields: &BTreeMap<u64, Vec<String>>,
) -> Result<(), ClientError> {
    let tmp = with_suffix(path, ".tmp");
    let mut w = csv::Writer::from_path(&tmp)
        .map_err(|e| ClientError::Input(format!("cannot write {}: {e}", tmp.display())))?;
    let werr = |e: csv::Error| ClientError::Input(format!("cannot write {}: {e}", tmp.display()));
    let mut head = vec!["line".to_string(), "reason".to_string()];
    head.extend(header.iter().cloned());
    w.write_record(&head).map_err(werr)?;
    for (line, reason) in reasons {
        let mut rec = vec![line.to_string(), reason.clone()];
        rec.extend(fields.get(line).cloned().unwrap_or_default());
        rec.resize(head.len().max(rec.len()), String::new());
        w.write_record(&rec).map_err(werr)?;
    }
    w.flush()
        .map_err(|e| ClientError::Input(format!("cannot write {}: {e}", tmp.display())))?;
    drop(w);
    std::fs::rename(&tmp, path).map_err(|e| io("write", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDIT: &str = "enterprise,kind,reference,amount,date,note\n\
        91350100M000100Y43,loan,LN-1,\"1,000,000\",2026-10-01,流动资金贷款\n\
        91350100M000100Y44,loan,LN-2,100,2026-10-01,\n\
        \n\
        91350100M000100Y43,lone,LN-3,100,2026-10-01,\n\
        91350100M000100Y43,loan,LN-4,-5,2026-10-01,\n\
        91350100M000100Y43,loan,LN-5,100,2026-02-30,\n\
        91350100M000100Y43,loan,LN-6,100\n\
        91350100M000I00Y43,loan,LN-7,100,2026-10-01,\n";

    #[test]
    fn rows_are_checked_with_line_numbers() {
        let (header, rows) = read_rows(CREDIT.as_bytes(), Kind::Credit).unwrap();
        assert_eq!(header.len(), 6);
        let by_line: BTreeMap<u64, &Row> = rows.iter().map(|r| (r.line, r)).collect();
        let lines: Vec<u64> = by_line.keys().copied().collect();
        assert_eq!(lines, [2, 3, 5, 6, 7, 8, 9], "{rows:?}");
        assert!(by_line[&2].payload.is_ok());
        // A wrong check character alone is for the node to judge.
        assert!(by_line[&3].payload.is_ok());
        let err = |l: u64| by_line[&l].payload.as_ref().unwrap_err().clone();
        assert!(err(5).contains("unknown credit kind"), "{}", err(5));
        assert!(err(6).contains("negative"), "{}", err(6));
        assert!(
            err(7).contains("calendar date") || err(7).contains("2026-02-30"),
            "{}",
            err(7)
        );
        assert!(err(8).contains("4 columns, the header 6"), "{}", err(8));
        assert!(err(9).contains("enterprise"), "{}", err(9));
        assert_eq!(rows.len(), 7, "the blank line is skipped");
    }

    /// Found by the `csv_rows` fuzz target: a lone carriage return ends a
    /// record, so it must end a line too, or two rows share a line number
    /// (and, in the importer's state, an outcome).
    #[test]
    fn lone_carriage_returns_start_new_lines() {
        let text = "enterprise,kind,reference,amount,date,note\n\
            91350100M000100Y43,loan,A-1,100,2026-10-01,a\r\
            91350100M000100Y43,loan,A-2,100,2026-10-01,b\r\n\
            \r\n\
            91350100M000100Y43,loan,A-3,100,2026-10-01,c\n";
        let (_, rows) = read_rows(text.as_bytes(), Kind::Credit).unwrap();
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 3, 5]);
        assert!(rows.iter().all(|r| r.payload.is_ok()), "{rows:?}");
        let crash = include_bytes!("../tests/data/csv-lone-cr.csv");
        if let Ok((_, rows)) = read_rows(crash, Kind::Credit) {
            let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
            assert!(lines.windows(2).all(|w| w[0] < w[1]), "{lines:?}");
        }
    }

    #[test]
    fn invalid_utf8_and_bad_headers() {
        let mut bytes = b"enterprise,kind,reference,amount,date\n91350100M000100Y43,loan,LN-\xff,1,2026-10-01\n".to_vec();
        let (_, rows) = read_rows(&bytes, Kind::Credit).unwrap();
        assert!(rows[0]
            .payload
            .as_ref()
            .unwrap_err()
            .contains("not valid UTF-8"));
        bytes = b"enterprise,kind,ref,amount,date\n".to_vec();
        assert!(read_rows(&bytes, Kind::Credit)
            .unwrap_err()
            .contains("lacks column \"reference\""));
        bytes = b"enterprise,kind,reference,amount,date,colour\n".to_vec();
        assert!(read_rows(&bytes, Kind::Credit)
            .unwrap_err()
            .contains("unknown column \"colour\""));
        assert!(read_rows(b"", Kind::Credit).unwrap_err().contains("empty"));
        // A byte-order mark and upper-case names are fine.
        bytes = "\u{feff}Enterprise,KIND,reference,amount,date\n"
            .as_bytes()
            .to_vec();
        read_rows(&bytes, Kind::Credit).unwrap();
    }

    #[test]
    fn public_and_receivable_layouts() {
        let public = "enterprise,category,period,source,grade,case_number,amount\n\
            91350100M000100Y43,tax_grade,2026-09,税-1,B,,\n\
            91350100M000100Y43,court_judgment,2026-09,法-1,,(2026)皖0104民初12号,\"380,000\"\n\
            91350100M000100Y43,court_judgment,2026-09,法-2,,2026-12,\n";
        let (_, rows) = read_rows(public.as_bytes(), Kind::Public).unwrap();
        assert!(rows[0].payload.is_ok() && rows[1].payload.is_ok());
        assert!(rows[2]
            .payload
            .as_ref()
            .unwrap_err()
            .contains("court case number"));
        let debtor = Keypair::from_secret([7; 32]);
        let terms = records::receivable_terms(&ReceivableInput {
            id: "AR-1",
            creditor: "91350100M000100Y43",
            debtor: "91110108551385082Q",
            amount: "1000",
            currency: "CNY",
            issued: "2026-09-01",
            due: "2027-01-01",
            invoices: &["I-1".into(), "I-2".into()],
            contract: "C-1",
            collateral_registration: None,
        })
        .unwrap();
        let sig = terms.clone().confirm("c", &debtor).debtor_signature;
        let csv = format!(
            "receivable_id,creditor,debtor,amount,issued,due,invoices,contract,debtor_signature\n\
             AR-1,91350100M000100Y43,91110108551385082Q,1000,2026-09-01,2027-01-01,I-1;I-2,C-1,{sig}\n"
        );
        let (_, rows) = read_rows(csv.as_bytes(), Kind::Receivable).unwrap();
        match &rows[0].payload {
            Ok(Payload::ReceivableRegister(r)) => r.verify("c", &debtor.public()).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn signing_is_deterministic_so_a_rerun_sends_the_same_transactions() {
        let key = Keypair::from_secret([3; 32]);
        let (_, rows) = read_rows(CREDIT.as_bytes(), Kind::Credit).unwrap();
        let valid: Vec<(u64, u64, Payload)> = rows
            .iter()
            .filter_map(|r| r.payload.clone().ok().map(|p| (r.line, 0, p)))
            .enumerate()
            .map(|(i, (l, _, p))| (l, 10 + i as u64, p))
            .collect();
        let a: Vec<Hash> = sign_all(&key, "c", valid.clone())
            .iter()
            .map(|f| f.tx.hash())
            .collect();
        let b: Vec<Hash> = sign_all(&key, "c", valid)
            .iter()
            .map(|f| f.tx.hash())
            .collect();
        assert_eq!(a, b);
        assert_eq!(a.len(), 2);
    }
}
