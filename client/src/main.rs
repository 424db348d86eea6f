//! `deltachain`: submit records to a Deltachain node, query the cross-city
//! view, and verify answers against the validators' signatures.
//!
//! Exit codes: 0 success, 1 rejected (by the node, a business rule or a
//! failed verification), 2 usage error, 3 node unreachable, 4 outcome
//! unknown (a transaction was submitted but whether it was committed could
//! not be learned in time; check with `deltachain tx HASH`).
//!
//! With `--json`, results are one JSON document on stdout and errors are
//! `{"error": {"code", "message"}}` on stderr. A closed stdout
//! (`deltachain ... | head`) ends the program quietly.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use deltachain_client::records::{self, fen_to_yuan};
use deltachain_client::{import, render};
use deltachain_client::{verify, Client, ClientError};
use deltachain_protocol::{Genesis, Hash, Outcome, Purpose};
use serde_json::{json, Value};
use unicode_width::UnicodeWidthStr;

/// `println!` that ends the program quietly when stdout is closed
/// (`deltachain ... | head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        write_line(format_args!($($arg)*))
    };
}

fn write_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|_| stdout.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {e}");
        std::process::exit(1);
    }
}

#[derive(Parser)]
#[command(
    name = "deltachain",
    version,
    about = "Client for the Deltachain credit chain"
)]
struct Cli {
    /// Node API URL.
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:7070",
        env = "DELTACHAIN_NODE"
    )]
    node: String,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    /// Key file that signs every request (and submitted transactions): a
    /// member's key, or an enterprise's for its own records. Without one,
    /// only the public routes answer.
    #[arg(long, global = true, env = "DELTACHAIN_KEY")]
    key: Option<PathBuf>,
    /// Extra PEM certificate authority to trust for https:// nodes.
    #[arg(long, global = true, env = "DELTACHAIN_CA")]
    ca: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new member key file (mode 0600) and print its public key.
    Keygen {
        /// Key file to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign and submit a record (signed with --key).
    Submit(Submit),
    /// Enterprise consents: sign one with the enterprise's key, or show one.
    #[command(subcommand)]
    Consent(ConsentCmd),
    /// Query the chain.
    #[command(subcommand)]
    Query(Query),
    /// Show a transaction and its receipt.
    Tx {
        /// Transaction hash.
        hash: String,
    },
    /// Show a block by height, hash or `latest`.
    Block {
        /// Height, hash or `latest`.
        id: String,
    },
    /// Show the node's status.
    Status,
    /// Load a CSV file of records (signed with --key): every row ends
    /// applied, rejected by a ledger rule, or refused before signing, with
    /// its line number and reason in the rejects file. An interrupted
    /// import resumes where it stopped when run again with the same file;
    /// nothing is submitted twice.
    Import {
        /// The CSV file (UTF-8, header row; layouts in the README and
        /// `client/samples/`).
        #[arg(long)]
        file: PathBuf,
        /// credit, public or receivable.
        #[arg(long, default_value = "credit")]
        kind: String,
        /// Where to write refused and rejected rows (default FILE.rejects.csv).
        #[arg(long)]
        rejects: Option<PathBuf>,
        /// Most transactions submitted and not yet committed.
        #[arg(long, default_value_t = 20_000)]
        max_in_flight: usize,
        /// Transactions per request.
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        /// Seconds to wait for an unreachable node, or for a node that
        /// commits nothing, before stopping (run again to resume).
        #[arg(long, default_value_t = 600)]
        wait_node: u64,
    },
    /// An enterprise's whole picture: identity, credit summary per city
    /// and bank, public records, IP, receivables, objections and how often
    /// it was read (same access as `query enterprise`).
    Report {
        /// USCC.
        uscc: String,
        /// Why you read (as for `query enterprise`); recorded in the
        /// enterprise's query log.
        #[arg(long, env = "DELTACHAIN_PURPOSE")]
        purpose: Option<String>,
    },
    /// Verify an answer against the validators in a genesis file, never
    /// the node's word: a committed transaction (`verify HASH`), or the
    /// present state of an IP right, an enterprise's records or a member.
    Verify(VerifyArgs),
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct VerifyArgs {
    #[command(subcommand)]
    what: Option<VerifyCmd>,
    /// Transaction hash (same as `verify tx HASH`).
    hash: Option<String>,
    /// Genesis file of the network.
    #[arg(long)]
    genesis: Option<PathBuf>,
}

#[derive(Subcommand)]
enum VerifyCmd {
    /// A committed transaction, its receipt and its block.
    Tx {
        /// Transaction hash.
        hash: String,
        /// Genesis file of the network.
        #[arg(long)]
        genesis: PathBuf,
    },
    /// An IP right's owner and pledge, or that it is not registered.
    Ip {
        /// Patent number or registration id.
        ip_id: String,
        /// Genesis file of the network.
        #[arg(long)]
        genesis: PathBuf,
        /// A past height inside the node's proof window (default: latest).
        #[arg(long)]
        height: Option<u64>,
    },
    /// That the enterprise's credit records shown are all of them, unaltered.
    Enterprise {
        /// USCC.
        uscc: String,
        /// Genesis file of the network.
        #[arg(long)]
        genesis: PathBuf,
        /// Why you read (as for `query enterprise`); recorded in the
        /// enterprise's query log.
        #[arg(long, env = "DELTACHAIN_PURPOSE")]
        purpose: Option<String>,
        /// A past height inside the node's proof window (default: latest).
        #[arg(long)]
        height: Option<u64>,
    },
    /// A member's name and roles, or that a key is not a member.
    Member {
        /// Public key, 64 hex.
        #[arg(value_name = "KEY")]
        public_key: String,
        /// Genesis file of the network.
        #[arg(long)]
        genesis: PathBuf,
        /// A past height inside the node's proof window (default: latest).
        #[arg(long)]
        height: Option<u64>,
    },
}

// Parsed once per run: the size of the larger variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum ConsentCmd {
    /// Sign a consent with the enterprise's key and write it to a file for
    /// the grantee to submit (`deltachain submit consent-grant --file`).
    Sign {
        /// The enterprise's key file.
        #[arg(long)]
        enterprise_key: PathBuf,
        /// The enterprise's USCC; by default taken from a key file named
        /// `enterprise-<USCC>.key`, or from the node's record of the key.
        #[arg(long)]
        uscc: Option<String>,
        /// The member allowed to read: its name or public key (hex).
        #[arg(long)]
        grantee: String,
        /// credit, ip, receivables or all.
        #[arg(long)]
        scope: String,
        /// loan_approval, post_loan_management or guarantee_review.
        #[arg(long)]
        purpose: String,
        /// First day in force, YYYY-MM-DD (default: today, UTC).
        #[arg(long)]
        not_before: Option<String>,
        /// Last day in force, YYYY-MM-DD (at most a year after --not-before).
        #[arg(long)]
        until: String,
        /// The consent's id (default: a random one).
        #[arg(long)]
        consent_id: Option<String>,
        /// The network's chain id; with it (and --uscc or a key file named
        /// after the enterprise, and --grantee as a key) nothing is asked of
        /// a node, so the consent can be made on an offline machine.
        #[arg(long)]
        chain_id: Option<String>,
        /// File to write (refuses to overwrite).
        #[arg(long)]
        out: PathBuf,
    },
    /// Show a consent and whether it is in force (enterprise, grantee or regulator).
    Show {
        /// The consent's id.
        id: String,
    },
}

#[derive(Args)]
struct Submit {
    /// Wait until the transaction is committed and show its receipt. If the
    /// node drops meanwhile, keep asking until --timeout; if the outcome is
    /// still unknown then, exit 4 (resubmitting is safe: the same signed
    /// transaction is never applied twice).
    #[arg(long)]
    wait: bool,
    /// Seconds to keep trying to submit and, with --wait, to learn the outcome.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    #[command(subcommand)]
    record: Record,
}

#[derive(Subcommand)]
enum Record {
    /// A credit record (credit_reporter).
    Credit {
        /// Enterprise USCC.
        #[arg(long)]
        enterprise: String,
        /// loan, repayment, overdue, default, guarantee or rating.
        #[arg(long)]
        kind: String,
        /// Contract or loan id: up to 64 letters (Chinese included), digits
        /// and . - _ /, like 合肥-贷-001.
        #[arg(long)]
        reference: String,
        /// Amount in yuan, up to two decimals; commas only between groups of
        /// three digits (1,234,567.89).
        #[arg(long, allow_hyphen_values = true)]
        amount: Option<String>,
        /// Currency.
        #[arg(long, default_value = "CNY")]
        currency: String,
        /// Date, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// Rating grade (for kind rating).
        #[arg(long)]
        rating: Option<String>,
        /// Free text, up to 500 characters of any script.
        #[arg(long)]
        note: Option<String>,
    },
    /// Correct or withdraw one of your credit records (credit_reporter).
    CreditCorrection {
        /// Hash of the transaction that reported the record.
        #[arg(long)]
        tx: String,
        /// Why, up to 500 characters of any script.
        #[arg(long)]
        reason: String,
        /// Withdraw the record instead of annotating it.
        #[arg(long)]
        withdraw: bool,
    },
    /// Register an IP right (ip_registrar).
    IpRegister {
        /// Patent number (ZL...) or registration id.
        #[arg(long)]
        ip_id: String,
        /// patent, trademark, copyright or software_copyright.
        #[arg(long)]
        kind: String,
        /// Title, up to 200 characters of any script.
        #[arg(long)]
        title: String,
        /// Owner USCC.
        #[arg(long)]
        owner: String,
        /// Registration date.
        #[arg(long)]
        date: String,
    },
    /// Transfer an IP right (ip_registrar).
    IpTransfer {
        /// The IP.
        #[arg(long)]
        ip_id: String,
        /// New owner USCC.
        #[arg(long)]
        to: String,
    },
    /// Pledge an IP right to your bank (lender).
    IpPledge {
        /// The IP.
        #[arg(long)]
        ip_id: String,
        /// Secured amount in yuan (commas only between groups of three digits).
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// Pledge contract reference (up to 64 letters, digits and . - _ /).
        #[arg(long)]
        contract: String,
        /// Last day of the pledge.
        #[arg(long)]
        until: String,
    },
    /// Release your bank's pledge (lender).
    IpRelease {
        /// The IP.
        #[arg(long)]
        ip_id: String,
    },
    /// Add a member (regulator).
    MemberAdd {
        /// Unique name: up to 64 letters (Chinese included), digits and . - _ /.
        #[arg(long)]
        name: String,
        /// Its public key (hex).
        #[arg(long)]
        public_key: String,
        /// Comma-separated roles.
        #[arg(long)]
        roles: String,
        /// City it reports from (shown in reports per city), like 杭州.
        #[arg(long, default_value = "")]
        city: String,
        /// For a data_provider: the public-record categories it may write,
        /// comma-separated (tax_grade, tax_arrears, social_insurance,
        /// housing_fund, utilities, court_judgment, enforcement,
        /// dishonest_debtor, admin_penalty).
        #[arg(long, default_value = "")]
        categories: String,
    },
    /// Remove a member (regulator).
    MemberRemove {
        /// Its public key (hex).
        #[arg(long)]
        public_key: String,
    },
    /// Change a member's roles (regulator).
    MemberRoles {
        /// Its public key (hex).
        #[arg(long)]
        public_key: String,
        /// Comma-separated roles.
        #[arg(long)]
        roles: String,
        /// For a data_provider: its public-record categories.
        #[arg(long, default_value = "")]
        categories: String,
    },
    /// Bind or replace an enterprise's key (enterprise_registrar).
    EnterpriseKey {
        /// The enterprise's USCC.
        #[arg(long)]
        uscc: String,
        /// Its public key (hex).
        #[arg(long)]
        public_key: String,
    },
    /// Put a consent the enterprise signed on chain (any member).
    ConsentGrant {
        /// The file `deltachain consent sign` wrote.
        #[arg(long)]
        file: PathBuf,
    },
    /// Revoke a consent, signed with the enterprise's key (submitted with
    /// --key if given, else by the enterprise itself).
    ConsentRevoke {
        /// The consent's id.
        #[arg(long)]
        consent_id: String,
        /// The enterprise's key file.
        #[arg(long)]
        enterprise_key: PathBuf,
    },
    /// Register a receivable the debtor confirms (receivables_registrar).
    ReceivableRegister {
        /// Receivable id, unique on the chain (letters, digits, . - _).
        #[arg(long)]
        id: String,
        /// Creditor USCC (the first holder).
        #[arg(long)]
        creditor: String,
        /// Debtor USCC (the core enterprise that owes).
        #[arg(long)]
        debtor: String,
        /// Face amount in yuan.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// Currency.
        #[arg(long, default_value = "CNY")]
        currency: String,
        /// Issue date, YYYY-MM-DD.
        #[arg(long)]
        issued: String,
        /// Due date, YYYY-MM-DD.
        #[arg(long)]
        due: String,
        /// Invoice number(s); repeat or separate with commas.
        #[arg(long = "invoice", required = true)]
        invoices: Vec<String>,
        /// Underlying contract reference.
        #[arg(long)]
        contract: String,
        /// Unified movable-collateral registration number, if registered.
        #[arg(long)]
        collateral_registration: Option<String>,
        /// The debtor enterprise's key file: it signs its confirmation of
        /// exactly these terms.
        #[arg(long)]
        debtor_key: PathBuf,
    },
    /// Finance a receivable: pledge or factoring (lender).
    ReceivableFinance {
        /// Receivable or part id.
        #[arg(long)]
        id: String,
        /// pledge or factoring.
        #[arg(long)]
        kind: String,
        /// Financed amount in yuan (at most the unsettled balance).
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// Financing contract reference.
        #[arg(long)]
        contract: String,
        /// Last day of the financing.
        #[arg(long)]
        until: String,
    },
    /// Release your financing of a receivable (lender).
    ReceivableRelease {
        /// Receivable or part id.
        #[arg(long)]
        id: String,
    },
    /// Split unfinanced balance into parts for new holders (the holder's
    /// own key, or a receivables_registrar).
    ReceivableSplit {
        /// Receivable or part id.
        #[arg(long)]
        id: String,
        /// A part: PART_ID:HOLDER_USCC:AMOUNT_YUAN; repeat for each part.
        #[arg(long = "part", required = true)]
        parts: Vec<String>,
    },
    /// Pass an unfinanced receivable to a new holder (the holder's own key,
    /// or a receivables_registrar).
    ReceivableTransfer {
        /// Receivable or part id.
        #[arg(long)]
        id: String,
        /// New holder's USCC.
        #[arg(long)]
        to: String,
    },
    /// Record a payment on a receivable (receivables_registrar).
    ReceivableSettle {
        /// Receivable or part id.
        #[arg(long)]
        id: String,
        /// Amount paid in yuan.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// Day of payment, YYYY-MM-DD.
        #[arg(long)]
        paid_on: String,
    },
    /// A public-credit record (data_provider, for its categories).
    #[command(name = "public-record")]
    Public {
        /// Enterprise USCC.
        #[arg(long)]
        enterprise: String,
        /// tax_grade, tax_arrears, social_insurance, housing_fund,
        /// utilities, court_judgment, enforcement, dishonest_debtor or
        /// admin_penalty.
        #[arg(long)]
        category: String,
        /// The month it concerns, YYYY-MM.
        #[arg(long)]
        period: String,
        /// Reference of the source document.
        #[arg(long)]
        source: String,
        /// tax_grade: A, B, M, C or D.
        #[arg(long)]
        grade: Option<String>,
        /// Amount in yuan (tax_arrears, enforcement; court_judgment and
        /// admin_penalty if any).
        #[arg(long, allow_hyphen_values = true)]
        amount: Option<String>,
        /// social_insurance, housing_fund: employees covered.
        #[arg(long)]
        headcount: Option<u32>,
        /// social_insurance, housing_fund: contributions owed, in yuan.
        #[arg(long, allow_hyphen_values = true)]
        arrears: Option<String>,
        /// utilities: water, electricity or gas.
        #[arg(long)]
        utility: Option<String>,
        /// utilities: on_time, late or arrears.
        #[arg(long)]
        status: Option<String>,
        /// utilities: months late or in arrears.
        #[arg(long)]
        months: Option<u8>,
        /// court_judgment, enforcement, dishonest_debtor: the case number,
        /// like （2024）沪0115民初12345号.
        #[arg(long)]
        case_number: Option<String>,
        /// admin_penalty: the authority.
        #[arg(long)]
        authority: Option<String>,
        /// admin_penalty: its decision number.
        #[arg(long)]
        decision_number: Option<String>,
        /// Free text, up to 500 characters.
        #[arg(long)]
        note: Option<String>,
    },
    /// Object to a record about your enterprise (its own key, or a member
    /// naming the enterprise's consent with --consent-id).
    Objection {
        /// The transaction that reported the credit or public record.
        #[arg(long, conflicts_with = "receivable")]
        tx: Option<String>,
        /// Or a receivable (or part) id.
        #[arg(long)]
        receivable: Option<String>,
        /// What is wrong with it, up to 500 characters.
        #[arg(long)]
        reason: String,
        /// When a member files for the enterprise: the consent it holds.
        #[arg(long)]
        consent_id: Option<String>,
    },
    /// Answer an objection to a record you reported.
    ObjectionResolve {
        /// The objection's transaction hash.
        #[arg(long)]
        objection: String,
        /// corrected, upheld or unresolved.
        #[arg(long)]
        outcome: String,
        /// Why; for corrected, the correction itself.
        #[arg(long)]
        explanation: String,
        /// With corrected: withdraw the record rather than annotate it.
        #[arg(long)]
        withdraw: bool,
    },
    /// Admit a pilot-era code whose only fault is its check character
    /// (regulator).
    UsccException {
        /// The 18-character code.
        #[arg(long)]
        code: String,
        /// The enterprise's registered name.
        #[arg(long)]
        name: String,
        /// Why it is admitted (licence seen, registry checked).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum Query {
    /// An enterprise's credit records from every city and the IP it owns
    /// (needs the enterprise's consent, a regulator's key or the
    /// enterprise's own key).
    Enterprise {
        /// USCC.
        uscc: String,
        /// Why you read: loan_approval, post_loan_management,
        /// guarantee_review, supervision (regulators) or self_inquiry (the
        /// enterprise). Signed and recorded in the enterprise's query log.
        #[arg(long, env = "DELTACHAIN_PURPOSE")]
        purpose: Option<String>,
        /// Only the records you reported yourself (no consent needed).
        #[arg(long)]
        own: bool,
        /// Skip this many records (newest first).
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Show at most this many records.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// An IP right: owner, active pledge and history.
    Ip {
        /// Patent number or registration id.
        ip_id: String,
    },
    /// A receivable or part: balance, financing, parts and history.
    Receivable {
        /// Receivable or part id.
        id: String,
        /// Why you read (loan_approval, post_loan_management, ...).
        #[arg(long, env = "DELTACHAIN_PURPOSE")]
        purpose: Option<String>,
    },
    /// The receivables an enterprise is creditor, debtor or holder of.
    Receivables {
        /// USCC.
        uscc: String,
        /// Why you read.
        #[arg(long, env = "DELTACHAIN_PURPOSE")]
        purpose: Option<String>,
    },
    /// Objections: every open one, or --overdue (regulators); or one
    /// enterprise's with --enterprise.
    Objections {
        /// Only those past their deadline (by block time).
        #[arg(long)]
        overdue: bool,
        /// One enterprise's objections.
        #[arg(long)]
        enterprise: Option<String>,
        /// Skip this many.
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Show at most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Who read an enterprise's data: its query log, for the enterprise
    /// itself and regulators. With --requester instead, one requester's reads.
    Queries {
        /// The enterprise's USCC.
        uscc: Option<String>,
        /// A requester's public key (regulators; or your own).
        #[arg(long, conflicts_with = "uscc")]
        requester: Option<String>,
        /// Skip this many entries (newest first).
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Show at most this many entries.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

/// A failure, its exit code and its stable code for `--json`.
struct Failure {
    exit: u8,
    code: String,
    message: String,
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let exit = match &e {
            ClientError::Unreachable { .. } => 3,
            ClientError::Input(_) => 2,
            ClientError::OutcomeUnknown { .. } => 4,
            _ => 1,
        };
        Failure {
            exit,
            code: e.code().to_string(),
            message: e.to_string(),
        }
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        exit: 2,
        code: "usage".into(),
        message: message.into(),
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Prints an aligned table. Columns are padded by display width, so a
/// Chinese title (two columns a character) keeps the next column in line.
fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.width());
        }
    }
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(widths[i].saturating_sub(c.width()))))
            .collect();
        out!("  {}", parts.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    line(widths.iter().map(|w| "-".repeat(*w)).collect());
    for r in rows {
        line(r);
    }
}

fn amount(v: &Value) -> String {
    v.as_u64().map(fen_to_yuan).unwrap_or_else(|| "-".into())
}

fn short(v: &Value) -> String {
    let t = s(v);
    match t.get(..12) {
        Some(head) if t.len() == 64 => format!("{head}…"),
        _ => t,
    }
}

fn parse_hash(h: &str) -> Result<Hash, Failure> {
    Hash::from_hex(h.trim()).map_err(|e| usage(format!("transaction hash: {e}")))
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let json_out = cli.json;
    if let Command::Keygen { out } = &cli.command {
        let key = deltachain_client::write_new_key(out)?;
        if json_out {
            out!("{}", json!({"public_key": key.public(), "file": out}));
        } else {
            out!("public key: {}", key.public());
            out!(
                "written to: {} (keep it secret; give the public key to your regulator)",
                out.display()
            );
        }
        return Ok(());
    }
    let base = Client::with_ca(&cli.node, cli.ca.as_deref())?;
    let key = match &cli.key {
        Some(path) => Some(deltachain_client::load_key(path)?),
        None => None,
    };
    let client = match &key {
        Some(k) => base.clone().with_key(k.clone()),
        None => base.clone(),
    };
    match cli.command {
        Command::Keygen { .. } => return Ok(()),
        Command::Consent(cmd) => consent_cmd(&client, &base, cmd, json_out).await?,
        Command::Status => {
            let v = client.get("/v1/status").await?;
            if json_out {
                out!("{v:#}");
            } else {
                for k in [
                    "chain_id",
                    "node",
                    "height",
                    "latest_block_hash",
                    "latest_block_time",
                    "round",
                    "step",
                    "peers",
                    "syncing",
                    "mempool_txs",
                    "validator",
                ] {
                    out!("{k:<18} {}", s(&v[k]));
                }
            }
        }
        Command::Submit(sub) => {
            let mut sender: Option<deltachain_protocol::Keypair> = None;
            let payload = match sub.record {
                Record::Credit {
                    enterprise,
                    kind,
                    reference,
                    amount,
                    currency,
                    date,
                    rating,
                    note,
                } => records::credit(
                    &enterprise,
                    &kind,
                    &reference,
                    amount.as_deref(),
                    &currency,
                    &date,
                    rating.as_deref(),
                    note.as_deref(),
                )?,
                Record::CreditCorrection {
                    tx,
                    reason,
                    withdraw,
                } => records::credit_correction(&tx, &reason, withdraw)?,
                Record::IpRegister {
                    ip_id,
                    kind,
                    title,
                    owner,
                    date,
                } => records::ip_register(&ip_id, &kind, &title, &owner, &date)?,
                Record::IpTransfer { ip_id, to } => records::ip_transfer(&ip_id, &to)?,
                Record::IpPledge {
                    ip_id,
                    amount,
                    contract,
                    until,
                } => records::ip_pledge(&ip_id, &amount, &contract, &until)?,
                Record::IpRelease { ip_id } => records::ip_release(&ip_id)?,
                Record::MemberAdd {
                    name,
                    public_key,
                    roles,
                    city,
                    categories,
                } => records::add_member(&name, &public_key, &roles, &city, &categories)?,
                Record::MemberRemove { public_key } => records::remove_member(&public_key)?,
                Record::MemberRoles {
                    public_key,
                    roles,
                    categories,
                } => records::set_roles(&public_key, &roles, &categories)?,
                Record::ReceivableRegister {
                    id,
                    creditor,
                    debtor,
                    amount,
                    currency,
                    issued,
                    due,
                    invoices,
                    contract,
                    collateral_registration,
                    debtor_key,
                } => {
                    let terms = records::receivable_terms(&records::ReceivableInput {
                        id: &id,
                        creditor: &creditor,
                        debtor: &debtor,
                        amount: &amount,
                        currency: &currency,
                        issued: &issued,
                        due: &due,
                        invoices: &invoices,
                        contract: &contract,
                        collateral_registration: collateral_registration.as_deref(),
                    })?;
                    let debtor_key = deltachain_client::load_key(&debtor_key)?;
                    let chain_id = client.status().await?.chain_id;
                    records::receivable_register(terms.confirm(&chain_id, &debtor_key))?
                }
                Record::ReceivableFinance {
                    id,
                    kind,
                    amount,
                    contract,
                    until,
                } => records::receivable_finance(&id, &kind, &amount, &contract, &until)?,
                Record::ReceivableRelease { id } => records::receivable_release(&id)?,
                Record::ReceivableSplit { id, parts } => records::receivable_split(&id, &parts)?,
                Record::ReceivableTransfer { id, to } => records::receivable_transfer(&id, &to)?,
                Record::ReceivableSettle {
                    id,
                    amount,
                    paid_on,
                } => records::receivable_settle(&id, &amount, &paid_on)?,
                Record::Public {
                    enterprise,
                    category,
                    period,
                    source,
                    grade,
                    amount,
                    headcount,
                    arrears,
                    utility,
                    status,
                    months,
                    case_number,
                    authority,
                    decision_number,
                    note,
                } => records::public_record(
                    &enterprise,
                    &category,
                    &period,
                    &source,
                    note.as_deref(),
                    &records::PublicFields {
                        grade: grade.as_deref(),
                        amount: amount.as_deref(),
                        headcount,
                        arrears: arrears.as_deref(),
                        utility: utility.as_deref(),
                        status: status.as_deref(),
                        months,
                        case_number: case_number.as_deref(),
                        authority: authority.as_deref(),
                        decision_number: decision_number.as_deref(),
                    },
                )?,
                Record::Objection {
                    tx,
                    receivable,
                    reason,
                    consent_id,
                } => records::objection(
                    tx.as_deref(),
                    receivable.as_deref(),
                    &reason,
                    consent_id.as_deref(),
                )?,
                Record::ObjectionResolve {
                    objection,
                    outcome,
                    explanation,
                    withdraw,
                } => records::objection_resolve(&objection, &outcome, &explanation, withdraw)?,
                Record::UsccException { code, name, reason } => {
                    records::uscc_exception(&code, &name, &reason)?
                }
                Record::EnterpriseKey { uscc, public_key } => {
                    records::enterprise_key(&uscc, &public_key)?
                }
                Record::ConsentGrant { file } => {
                    records::consent_grant(records::read_consent(&file)?)?
                }
                Record::ConsentRevoke {
                    consent_id,
                    enterprise_key,
                } => {
                    let ent = deltachain_client::load_key(&enterprise_key)?;
                    let chain_id = client.status().await?.chain_id;
                    let p = records::consent_revoke(&chain_id, &consent_id, &ent)?;
                    if key.is_none() {
                        // The enterprise submits its revocation itself.
                        sender = Some(ent);
                    }
                    p
                }
            };
            let key = sender
                .or(key)
                .ok_or_else(|| usage("submit needs a signing key: --key FILE or DELTACHAIN_KEY"))?;
            let client = base.clone().with_key(key.clone());
            codes_admitted(&client, &payload).await?;
            let tx = client.sign(&key, payload).await?;
            let hash = tx.hash();
            // The hash first: whatever happens to the connection from here
            // on, the clerk can follow this transaction.
            if !json_out {
                out!("transaction {hash}");
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(sub.timeout);
            if !sub.wait {
                client.submit_until(&tx, deadline).await?;
                if json_out {
                    out!("{}", json!({"tx_hash": hash, "status": "pending"}));
                } else {
                    out!("submitted {hash} (pending; follow it with `deltachain tx {hash}`)");
                }
                return Ok(());
            }
            let done = client.follow(&tx, deadline).await?;
            let outcome = done.receipt.outcome;
            if json_out {
                out!(
                    "{}",
                    json!({"tx_hash": hash, "status": "committed", "height": done.height, "outcome": outcome, "reason": done.receipt.reason})
                );
            } else {
                match outcome {
                    Outcome::Applied => {
                        out!("applied: {hash} committed at height {}", done.height)
                    }
                    Outcome::Rejected => out!(
                        "REJECTED: {hash} committed at height {} but refused: {}",
                        done.height,
                        done.receipt.reason.as_deref().unwrap_or("no reason given")
                    ),
                }
            }
            if outcome == Outcome::Rejected {
                return Err(Failure {
                    exit: 1,
                    code: "rejected".into(),
                    message: if json_out {
                        done.receipt.reason.unwrap_or_default()
                    } else {
                        String::new()
                    },
                });
            }
        }
        Command::Query(Query::Enterprise {
            uscc,
            purpose,
            own,
            offset,
            limit,
        }) => {
            let uscc = uscc_arg(&uscc)?;
            let v = if own {
                client
                    .enterprise_own(&uscc, offset, limit.clamp(1, 500))
                    .await?
            } else {
                let purpose = purpose
                    .ok_or_else(|| {
                        usage(format!(
                            "reading an enterprise's records needs --purpose (one of {}), or --own for the records you reported",
                            purposes()
                        ))
                    })?
                    .parse::<Purpose>()
                    .map_err(|e| usage(format!("--purpose: {e}")))?;
                client
                    .enterprise(&uscc, purpose, offset, limit.clamp(1, 500))
                    .await?
            };
            if json_out {
                out!("{v:#}");
                return Ok(());
            }
            let records = v["credit_records"].as_array().cloned().unwrap_or_default();
            let total = v["total_credit_records"].as_u64().unwrap_or(0);
            let whose = if own {
                "reported by you"
            } else {
                "from all cities"
            };
            out!(
                "Enterprise {uscc}: {total} credit record(s) {whose}, as of height {}",
                s(&v["as_of_height"])
            );
            out!("{}", page_note(offset, records.len(), total));
            if !records.is_empty() {
                table(
                    &[
                        "DATE",
                        "KIND",
                        "AMOUNT (CNY)",
                        "REFERENCE",
                        "REPORTER",
                        "STATUS",
                        "TX",
                    ],
                    records
                        .iter()
                        .map(|r| {
                            let mut status = s(&r["status"]);
                            if let Some(c) = r["corrections"].as_array().and_then(|c| c.last()) {
                                status = format!("{status}: {}", s(&c["reason"]));
                            }
                            vec![
                                s(&r["date"]),
                                s(&r["kind"])
                                    + &r["rating"]
                                        .as_str()
                                        .map(|g| format!(" {g}"))
                                        .unwrap_or_default(),
                                amount(&r["amount_fen"]),
                                s(&r["reference"]),
                                s(&r["reporter"]["name"]),
                                status,
                                short(&r["tx_hash"]),
                            ]
                        })
                        .collect(),
                );
            }
            let ips = v["ip"].as_array().cloned().unwrap_or_default();
            out!("IP owned: {}", ips.len());
            if !ips.is_empty() {
                table(
                    &["IP", "KIND", "TITLE", "PLEDGE"],
                    ips.iter()
                        .map(|i| {
                            let p = &i["active_pledge"];
                            let pledge = if p.is_null() {
                                "none".to_string()
                            } else {
                                format!(
                                    "{} for {} CNY until {}",
                                    s(&p["pledgee"]),
                                    amount(&p["amount_fen"]),
                                    s(&p["until"])
                                )
                            };
                            vec![s(&i["ip_id"]), s(&i["kind"]), s(&i["title"]), pledge]
                        })
                        .collect(),
                );
            }
        }
        Command::Query(Query::Queries {
            uscc,
            requester,
            offset,
            limit,
        }) => {
            let limit = limit.clamp(1, 500);
            let v = match (uscc, requester) {
                (Some(uscc), _) => {
                    let uscc = uscc_arg(&uscc)?;
                    client.queries(&uscc, offset, limit).await?
                }
                (None, Some(r)) => {
                    let r = deltachain_protocol::PublicKey::from_hex(r.trim())
                        .map_err(|e| usage(format!("--requester: {e}")))?;
                    client.queries_by(&r, offset, limit).await?
                }
                (None, None) => {
                    return Err(usage(
                        "say whose queries: an enterprise's USCC, or --requester KEY",
                    ))
                }
            };
            if json_out {
                out!("{v:#}");
                return Ok(());
            }
            let list = v["queries"].as_array().cloned().unwrap_or_default();
            out!(
                "{} read(s) on chain, most recently recorded first (each city's node records its reads within a second and a block)",
                list.len()
            );
            if !list.is_empty() {
                table(
                    &[
                        "TIME",
                        "REQUESTER",
                        "ENTERPRISE",
                        "PURPOSE",
                        "BASIS",
                        "OUTCOME",
                        "NODE",
                    ],
                    list.iter()
                        .map(|q| {
                            vec![
                                s(&q["time"]),
                                s(&q["requester_name"]),
                                s(&q["enterprise"]),
                                s(&q["purpose"]),
                                basis(&q["basis"]),
                                outcome(&q["outcome"]),
                                s(&q["serving_node_name"]),
                            ]
                        })
                        .collect(),
                );
            }
        }
        Command::Import {
            file,
            kind,
            rejects,
            max_in_flight,
            batch,
            wait_node,
        } => {
            let key = key
                .ok_or_else(|| usage("import needs a signing key: --key FILE or DELTACHAIN_KEY"))?;
            let kind: import::Kind = kind.parse().map_err(|e| usage(format!("--kind: {e}")))?;
            let opts = import::Options {
                file: file.clone(),
                kind,
                rejects,
                max_in_flight: max_in_flight.clamp(1, 100_000),
                batch: batch.clamp(1, 10_000),
                patience: Duration::from_secs(wait_node),
                progress: if json_out {
                    import::Progress::Quiet
                } else {
                    import::Progress::for_stderr()
                },
            };
            let summary = import::run(&base, &key, &opts).await?;
            if json_out {
                out!("{}", json!(summary));
            } else {
                out!(
                    "import of {}: {} row(s)",
                    file.display(),
                    records::group(summary.rows)
                );
                out!("  applied   {:>12}", records::group(summary.applied));
                out!(
                    "  rejected  {:>12}  by a ledger rule (duplicates, a second pledge, ...)",
                    records::group(summary.rejected)
                );
                out!(
                    "  refused   {:>12}  before signing (unreadable or invalid rows)",
                    records::group(summary.refused)
                );
                if summary.from_earlier_run > 0 {
                    out!(
                        "  ({} of them committed by an earlier run of this import)",
                        records::group(summary.from_earlier_run)
                    );
                }
                if summary.rejected + summary.refused > 0 {
                    out!(
                        "line numbers and reasons: {}",
                        summary.rejects_file.display()
                    );
                }
                if summary.complete() {
                    out!("every row is accounted for");
                }
            }
            if !summary.complete() {
                return Err(Failure {
                    exit: 1,
                    code: "incomplete".into(),
                    message: "some rows are not accounted for; run the import again to finish"
                        .into(),
                });
            }
        }
        Command::Report { uscc, purpose } => {
            let uscc = uscc_arg(&uscc)?;
            let purpose = purpose_arg(purpose, "an enterprise's report")?;
            let v = client.report(&uscc, purpose).await?;
            if json_out {
                out!("{v:#}");
            } else {
                print_lines(render::report(&v));
            }
        }
        Command::Query(Query::Receivable { id, purpose }) => {
            deltachain_protocol::registry::check_receivable_id("id", id.trim())
                .map_err(|e| usage(e.to_string()))?;
            let purpose = purpose_arg(purpose, "a receivable")?;
            let v = client.receivable(id.trim(), purpose).await?;
            if json_out {
                out!("{v:#}");
            } else {
                print_lines(render::receivable(&v));
            }
        }
        Command::Query(Query::Receivables { uscc, purpose }) => {
            let uscc = uscc_arg(&uscc)?;
            let purpose = purpose_arg(purpose, "an enterprise's receivables")?;
            let v = client.enterprise_receivables(&uscc, purpose).await?;
            if json_out {
                out!("{v:#}");
            } else {
                print_lines(render::receivables(&v));
            }
        }
        Command::Query(Query::Objections {
            overdue,
            enterprise,
            offset,
            limit,
        }) => {
            let enterprise = enterprise.as_deref().map(uscc_arg).transpose()?;
            let v = client
                .objections(overdue, enterprise.as_deref(), offset, limit.clamp(1, 500))
                .await?;
            if json_out {
                out!("{v:#}");
                return Ok(());
            }
            let list = v["objections"].as_array().cloned().unwrap_or_default();
            out!(
                "{} objection(s){}, as of {} (height {})",
                list.len(),
                if overdue { " past their deadline" } else { "" },
                s(&v["as_of"]),
                s(&v["as_of_height"])
            );
            if !list.is_empty() {
                print_lines(render::objections(&list));
            }
        }
        Command::Query(Query::Ip { ip_id }) => {
            let ip_id = deltachain_protocol::validate::normalize_ip_id(&ip_id);
            deltachain_protocol::ip_id(&ip_id, None).map_err(|e| usage(e.to_string()))?;
            let v = client.ip(&ip_id).await?;
            if json_out {
                out!("{v:#}");
                return Ok(());
            }
            out!("IP {} ({})", s(&v["ip_id"]), s(&v["kind"]));
            out!("  title       {}", s(&v["title"]));
            out!("  owner       {}", s(&v["owner"]));
            out!(
                "  registered  {} by {}",
                s(&v["registered_on"]),
                s(&v["registrar"]["name"])
            );
            let p = &v["active_pledge"];
            if p.is_null() {
                out!("  pledge      none (free to pledge)");
            } else {
                out!(
                    "  pledge      {} for {} CNY until {} (contract {}, tx {})",
                    s(&p["pledgee"]),
                    amount(&p["amount_fen"]),
                    s(&p["until"]),
                    s(&p["contract"]),
                    short(&p["tx_hash"])
                );
            }
            let history = v["history"].as_array().cloned().unwrap_or_default();
            table(
                &["HEIGHT", "TIME", "BY", "EVENT"],
                history
                    .iter()
                    .map(|h| {
                        let e = &h["event"];
                        let event = match e {
                            Value::String(x) => x.clone(),
                            Value::Object(m) => m
                                .iter()
                                .map(|(k, v)| {
                                    let detail: Vec<String> = v
                                        .as_object()
                                        .map(|o| {
                                            o.iter()
                                                .map(|(a, b)| {
                                                    if a == "amount_fen" {
                                                        format!("amount={} CNY", amount(b))
                                                    } else {
                                                        format!("{a}={}", s(b))
                                                    }
                                                })
                                                .collect()
                                        })
                                        .unwrap_or_default();
                                    format!("{k} {}", detail.join(" "))
                                })
                                .collect::<Vec<_>>()
                                .join(""),
                            _ => e.to_string(),
                        };
                        vec![
                            s(&h["height"]),
                            s(&h["time"]),
                            s(&h["sender"]["name"]),
                            event,
                        ]
                    })
                    .collect(),
            );
        }
        Command::Tx { hash } => {
            let hash = parse_hash(&hash)?;
            let v = client.get(&format!("/v1/txs/{hash}")).await?;
            if json_out {
                out!("{v:#}");
                return Ok(());
            }
            out!("transaction {hash}");
            out!("  status   {}", s(&v["status"]));
            if v["status"] == "committed" {
                out!("  height   {} (index {})", s(&v["height"]), s(&v["index"]));
                out!("  outcome  {}", s(&v["receipt"]["outcome"]));
                if !v["receipt"]["reason"].is_null() {
                    out!("  reason   {}", s(&v["receipt"]["reason"]));
                }
            }
            out!(
                "  sender   {} ({})",
                s(&v["tx"]["sender"]["name"]),
                short(&v["tx"]["sender"]["public_key"])
            );
            out!("  nonce    {}", s(&v["tx"]["nonce"]));
            out!("  kind     {}", s(&v["tx"]["kind"]));
            out!("  payload  {}", v["tx"]["payload"]);
        }
        Command::Block { id } => {
            if id != "latest" && id.parse::<u64>().is_err() && Hash::from_hex(&id).is_err() {
                return Err(usage(format!(
                    "{id:?} is not a height, a block hash or `latest`"
                )));
            }
            let v = client.block(&id).await?;
            if json_out {
                out!("{v:#}");
                return Ok(());
            }
            out!("block {} {}", s(&v["height"]), s(&v["hash"]));
            out!("  time       {}", s(&v["header"]["time"]));
            out!("  proposer   {}", short(&v["header"]["proposer"]));
            out!("  state root {}", s(&v["header"]["state_root"]));
            out!(
                "  signed by  {} validator(s) in round {}",
                v["commit"]["signatures"]
                    .as_array()
                    .map(|a| a.len())
                    .unwrap_or(0),
                s(&v["commit"]["round"])
            );
            let txs = v["txs"].as_array().cloned().unwrap_or_default();
            let receipts = v["receipts"].as_array().cloned().unwrap_or_default();
            if v.get("redacted").is_some() {
                out!(
                    "  {} transaction(s); their content is shown to regulators and validator operators only",
                    s(&v["header"]["tx_count"])
                );
                return Ok(());
            }
            out!("  {} transaction(s)", txs.len());
            if !txs.is_empty() {
                table(
                    &["#", "TX", "KIND", "SENDER", "OUTCOME"],
                    txs.iter()
                        .zip(receipts.iter())
                        .enumerate()
                        .map(|(i, (t, r))| {
                            let mut outcome = s(&r["outcome"]);
                            if !r["reason"].is_null() {
                                outcome = format!("{outcome}: {}", s(&r["reason"]));
                            }
                            vec![
                                i.to_string(),
                                short(&t["tx_hash"]),
                                s(&t["kind"]),
                                s(&t["sender"]["name"]),
                                outcome,
                            ]
                        })
                        .collect(),
                );
            }
        }
        Command::Verify(VerifyArgs {
            what: Some(what), ..
        }) => verify_state_cmd(&client, what, json_out).await?,
        Command::Verify(VerifyArgs {
            what: None,
            hash,
            genesis,
        }) => {
            let (Some(hash), Some(genesis)) = (hash, genesis) else {
                return Err(usage(
                    "verify needs a transaction hash and --genesis FILE, or one of: tx, ip, enterprise, member",
                ));
            };
            run_verify_tx(&client, hash, genesis, json_out).await?;
        }
    }
    Ok(())
}

/// `verify HASH`: a committed transaction against the genesis validators.
async fn run_verify_tx(
    client: &Client,
    hash: String,
    genesis: PathBuf,
    json_out: bool,
) -> Result<(), Failure> {
    let hash = parse_hash(&hash)?;
    let g = load_genesis(&genesis)?;
    let proof = client.proof(&hash).await?;
    match verify::verify_proof(&proof, &hash, &g) {
        Ok(v) => {
            if json_out {
                out!(
                    "{}",
                    json!({"verified": true, "tx_hash": hash, "height": v.height, "block_hash": v.block_hash, "signers": v.signers, "validators": v.validators, "outcome": proof.receipt.outcome, "reason": proof.receipt.reason})
                );
            } else {
                out!("VERIFIED: transaction {hash}");
                out!("  is in block {} ({}),", v.height, v.block_hash);
                out!(
                    "  certified by {} of {} validators of chain {},",
                    v.signers,
                    v.validators,
                    g.chain_id
                );
                out!(
                    "  with outcome {}{}",
                    serde_json::to_value(proof.receipt.outcome)
                        .map(|o| s(&o))
                        .unwrap_or_default(),
                    proof
                        .receipt
                        .reason
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                );
            }
        }
        Err(e) => {
            if json_out {
                out!(
                    "{}",
                    json!({"verified": false, "tx_hash": hash, "error": e.to_string()})
                );
            }
            return Err(Failure {
                exit: 1,
                code: "not_verified".into(),
                message: format!("NOT VERIFIED: {e}"),
            });
        }
    }
    Ok(())
}

fn load_genesis(path: &std::path::Path) -> Result<Genesis, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read genesis {}: {e}", path.display())))?;
    Genesis::from_json(&text).map_err(|e| usage(format!("{}: {e}", path.display())))
}

fn not_verified(json_out: bool, what: Value, e: impl std::fmt::Display) -> Failure {
    if json_out {
        let mut v = what;
        v["verified"] = json!(false);
        v["error"] = json!(e.to_string());
        out!("{v}");
    }
    Failure {
        exit: 1,
        code: "not_verified".into(),
        message: format!("NOT VERIFIED: {e}"),
    }
}

/// `verify ip|enterprise|member`: fetches `?proof=true` and checks it
/// against the genesis validators.
async fn verify_state_cmd(client: &Client, what: VerifyCmd, json_out: bool) -> Result<(), Failure> {
    use deltachain_client::verify::{verify_enterprise, verify_ip, verify_member, VerifiedState};
    let certified =
        |v: &VerifiedState| format!("certified by {} of {} validators", v.signers, v.validators);
    match what {
        VerifyCmd::Tx { hash, genesis } => {
            return run_verify_tx(client, hash, genesis, json_out).await;
        }
        VerifyCmd::Ip {
            ip_id,
            genesis,
            height,
        } => {
            let g = load_genesis(&genesis)?;
            let ip_id = deltachain_protocol::validate::normalize_ip_id(&ip_id);
            deltachain_protocol::ip_id(&ip_id, None).map_err(|e| usage(e.to_string()))?;
            let (_, answer) = client.ip_proven(&ip_id, height).await?;
            let (v, record, pledgee) = verify_ip(&answer, &ip_id, &g)
                .map_err(|e| not_verified(json_out, json!({"ip_id": ip_id}), e))?;
            let day = deltachain_protocol::Date::from_unix_ms(v.time_ms);
            if json_out {
                out!(
                    "{}",
                    json!({"verified": true, "ip_id": ip_id, "height": v.height, "registered": record.is_some(),
                        "owner": record.as_ref().map(|r| &r.owner),
                        "active_pledge": record.as_ref().and_then(|r| r.active_pledge(day)),
                        "pledgee": pledgee.as_ref().map(|m| &m.name),
                        "signers": v.signers, "validators": v.validators})
                );
                return Ok(());
            }
            match &record {
                None => out!(
                    "verified at height {}: IP {ip_id} is not registered on this chain ({})",
                    v.height,
                    certified(&v)
                ),
                Some(r) => {
                    let pledge =
                        match r.active_pledge(day) {
                            None => "no active pledge".to_string(),
                            Some(p) => format!(
                            "pledged to {} ({}) for {} CNY until {} (contract {}, transaction {})",
                            pledgee.as_ref().map_or("a former member", |m| m.name.as_str()),
                            p.pledgee,
                            fen_to_yuan(p.amount_fen),
                            p.until,
                            p.contract,
                            p.tx_hash
                        ),
                        };
                    out!(
                        "verified at height {}: {ip_id} \u{300c}{}\u{300d} owner {}, {pledge}",
                        v.height,
                        r.title,
                        r.owner
                    );
                    out!("  ({}, as of {day})", certified(&v));
                }
            }
        }
        VerifyCmd::Member {
            public_key,
            genesis,
            height,
        } => {
            let g = load_genesis(&genesis)?;
            let key = deltachain_protocol::PublicKey::from_hex(&public_key)
                .map_err(|e| usage(format!("public key: {e}")))?;
            let (_, answer) = client.member_proven(&key, height).await?;
            let (v, member) = verify_member(&answer, &key, &g)
                .map_err(|e| not_verified(json_out, json!({"public_key": key}), e))?;
            if json_out {
                out!(
                    "{}",
                    json!({"verified": true, "public_key": key, "height": v.height, "member": member,
                        "signers": v.signers, "validators": v.validators})
                );
                return Ok(());
            }
            match member {
                None => out!(
                    "verified at height {}: {key} is not a member ({})",
                    v.height,
                    certified(&v)
                ),
                Some(m) => out!(
                    "verified at height {}: {key} is member {} with roles [{}] ({})",
                    v.height,
                    m.name,
                    m.roles,
                    certified(&v)
                ),
            }
        }
        VerifyCmd::Enterprise {
            uscc,
            genesis,
            purpose,
            height,
        } => {
            let g = load_genesis(&genesis)?;
            let uscc = uscc_arg(&uscc)?;
            let purpose = purpose
                .ok_or_else(|| {
                    usage(format!(
                        "reading an enterprise's records needs --purpose (one of {})",
                        purposes()
                    ))
                })?
                .parse::<Purpose>()
                .map_err(|e| usage(format!("--purpose: {e}")))?;
            let (records, answer) = client.enterprise_proven(&uscc, purpose, height).await?;
            let (v, c) = verify_enterprise(&answer, &uscc, &records, &g)
                .map_err(|e| not_verified(json_out, json!({"uscc": uscc}), e))?;
            if json_out {
                out!(
                    "{}",
                    json!({"verified": true, "uscc": uscc, "height": v.height, "count": c.count, "root": c.root(),
                        "records": records, "signers": v.signers, "validators": v.validators})
                );
                return Ok(());
            }
            out!(
                "verified at height {}: {uscc} has exactly {} credit record(s), complete and unaltered ({})",
                v.height,
                c.count,
                certified(&v)
            );
            if !records.is_empty() {
                table(
                    &[
                        "#",
                        "kind",
                        "reference",
                        "amount (yuan)",
                        "date",
                        "status",
                        "reporter",
                    ],
                    records
                        .iter()
                        .enumerate()
                        .map(|(i, r)| {
                            vec![
                                i.to_string(),
                                r.record.kind.to_string(),
                                r.record.reference.clone(),
                                r.record
                                    .amount_fen
                                    .map(fen_to_yuan)
                                    .unwrap_or_else(|| "-".into()),
                                r.record.date.to_string(),
                                if r.withdrawn() {
                                    "withdrawn".into()
                                } else if r.corrections.is_empty() {
                                    "active".into()
                                } else {
                                    "corrected".into()
                                },
                                r.reporter.to_hex()[..12].to_string(),
                            ]
                        })
                        .collect(),
                );
            }
        }
    }
    Ok(())
}

/// A USCC as typed: normalised and well formed. A code that fails only the
/// check character goes on to the node, which knows whether a regulator
/// admitted it and says so if not.
fn uscc_arg(raw: &str) -> Result<String, Failure> {
    let uscc = deltachain_protocol::validate::normalize_uscc(raw);
    deltachain_protocol::validate::uscc_lenient("uscc", &uscc).map_err(|e| usage(e.to_string()))?;
    Ok(uscc)
}

/// A code that fails the GB 32100-2015 check is signed only if a regulator
/// admitted it: a mistyped code is refused here, before anything is sent,
/// with the check character it should have.
async fn codes_admitted(
    client: &Client,
    payload: &deltachain_protocol::Payload,
) -> Result<(), Failure> {
    for (field, code) in payload.usccs_needing_exception() {
        let refused = deltachain_protocol::validate::uscc_needs_exception(field, code);
        match client.uscc_exception(code).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(usage(refused)),
            Err(e) => {
                return Err(usage(format!(
                    "{refused}. (Whether a regulator admitted it could not be learned: {e})"
                )))
            }
        }
    }
    Ok(())
}

/// The signed purpose of a read.
fn purpose_arg(p: Option<String>, what: &str) -> Result<Purpose, Failure> {
    p.ok_or_else(|| {
        usage(format!(
            "reading {what} needs --purpose (one of {})",
            purposes()
        ))
    })?
    .parse::<Purpose>()
    .map_err(|e| usage(format!("--purpose: {e}")))
}

fn print_lines(lines: Vec<String>) {
    for l in lines {
        out!("{l}");
    }
}

fn purposes() -> String {
    Purpose::ALL
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `{"consent": {"consent_id": "c-1"}}` as `consent c-1`.
fn basis(v: &Value) -> String {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, inner)| match inner.get("consent_id") {
                Some(id) => format!("{k} {}", s(id)),
                None => k.clone(),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => s(other),
    }
}

/// `{"refused": {"code": "consent_required"}}` as `refused: consent_required`.
fn outcome(v: &Value) -> String {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, inner)| format!("{k}: {}", s(&inner["code"])))
            .collect::<Vec<_>>()
            .join(" "),
        other => s(other),
    }
}

fn today_utc() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    deltachain_protocol::Date::from_unix_ms(ms).to_string()
}

async fn consent_cmd(
    client: &Client,
    base: &Client,
    cmd: ConsentCmd,
    json_out: bool,
) -> Result<(), Failure> {
    match cmd {
        ConsentCmd::Show { id } => {
            let v = client.consent(id.trim()).await?;
            if json_out {
                out!("{v:#}");
                return Ok(());
            }
            let c = &v["consent"];
            out!("consent {}", s(&c["consent_id"]));
            out!("  enterprise  {}", s(&c["enterprise"]));
            out!("  grantee     {}", s(&c["grantee"]));
            out!("  scope       {}", s(&c["scope"]));
            out!("  purpose     {}", s(&c["purpose"]));
            out!(
                "  in force    {} to {}",
                s(&c["not_before"]),
                s(&c["until"])
            );
            out!(
                "  granted     at height {} ({})",
                s(&v["height"]),
                short(&v["tx_hash"])
            );
            if !v["revoked_height"].is_null() {
                out!("  revoked     at height {}", s(&v["revoked_height"]));
            }
            out!(
                "  status      {} as of {}",
                if v["active"] == true {
                    "ACTIVE"
                } else {
                    "not in force"
                },
                s(&v["as_of"])
            );
        }
        ConsentCmd::Sign {
            enterprise_key,
            uscc,
            grantee,
            scope,
            purpose,
            not_before,
            until,
            consent_id,
            chain_id,
            out,
        } => {
            let ent = deltachain_client::load_key(&enterprise_key)?;
            // The enterprise's own client: it may read its account and the
            // member list.
            let ent_client = base.clone().with_key(ent.clone());
            let uscc = match uscc {
                Some(u) => deltachain_protocol::validate::normalize_uscc(&u),
                None => {
                    let from_name = enterprise_key
                        .file_name()
                        .and_then(|n| n.to_str())
                        .and_then(|n| n.strip_prefix("enterprise-"))
                        .and_then(|n| n.strip_suffix(".key"))
                        .map(str::to_string);
                    match from_name {
                        Some(u)
                            if deltachain_protocol::validate::uscc_lenient("uscc", &u).is_ok() =>
                        {
                            u
                        }
                        _ => {
                            let acct = ent_client
                                .get(&format!("/v1/accounts/{}", ent.public()))
                                .await?;
                            acct["enterprise"].as_str().map(str::to_string).ok_or_else(|| {
                                usage(format!(
                                    "key {} is not bound to an enterprise on this chain; pass --uscc, or have a registrar bind it with `submit enterprise-key`",
                                    ent.public()
                                ))
                            })?
                        }
                    }
                }
            };
            let uscc = uscc_arg(&uscc)?;
            let grantee_key = match deltachain_protocol::PublicKey::from_hex(grantee.trim()) {
                Ok(k) => k,
                Err(_) => {
                    let members = ent_client.members().await?;
                    members["members"]
                        .as_array()
                        .and_then(|list| {
                            list.iter()
                                .find(|m| m["name"].as_str() == Some(grantee.trim()))
                        })
                        .and_then(|m| m["public_key"].as_str())
                        .and_then(|k| deltachain_protocol::PublicKey::from_hex(k).ok())
                        .ok_or_else(|| {
                            usage(format!(
                                "--grantee {:?} is neither a public key nor the name of a member",
                                deltachain_protocol::validate::truncate(&grantee)
                            ))
                        })?
                }
            };
            let chain_id = match chain_id {
                Some(c) => c,
                None => base.status().await?.chain_id,
            };
            let id = consent_id.unwrap_or_else(|| {
                format!(
                    "consent-{}",
                    &deltachain_protocol::crypto::sha256(
                        format!(
                            "{}{}{:?}",
                            ent.public(),
                            today_utc(),
                            std::time::SystemTime::now()
                        )
                        .as_bytes()
                    )
                    .to_hex()[..16]
                )
            });
            let not_before = not_before.unwrap_or_else(today_utc);
            let signed = records::sign_consent(
                &records::ConsentTerms {
                    chain_id: &chain_id,
                    enterprise: &uscc,
                    grantee: grantee_key,
                    scope: &scope,
                    purpose: &purpose,
                    not_before: &not_before,
                    until: &until,
                    consent_id: &id,
                },
                &ent,
            )?;
            let text = serde_json::to_string_pretty(&signed).map_err(|e| usage(e.to_string()))?;
            use std::io::Write as _;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&out)
                .map_err(|e| usage(format!("cannot create {}: {e}", out.display())))?;
            f.write_all(text.as_bytes())
                .and_then(|_| f.write_all(b"\n"))
                .map_err(|e| usage(format!("cannot write {}: {e}", out.display())))?;
            if json_out {
                out!(
                    "{}",
                    json!({"consent_id": id, "file": out, "enterprise": uscc, "grantee": grantee_key})
                );
            } else {
                out!("consent {id} signed by enterprise {uscc}");
                out!("  grantee {grantee_key}, scope {scope}, purpose {purpose}, {not_before} to {until}");
                out!("  written to {}; the grantee submits it with `deltachain submit --key ITS_KEY consent-grant --file {}`", out.display(), out.display());
            }
        }
    }
    Ok(())
}

/// "showing 1–50 of 158; --offset/--limit for more": a page never passes
/// for the whole list.
fn page_note(offset: usize, shown: usize, total: u64) -> String {
    if shown == 0 {
        if total == 0 {
            return "no credit records".into();
        }
        return format!("showing none of {total} (--offset {offset} is past the end)");
    }
    let first = offset + 1;
    let last = offset + shown;
    if first == 1 && last as u64 >= total {
        format!("showing all {total}")
    } else {
        format!("showing {first}–{last} of {total}; --offset/--limit for more")
    }
}

fn report(f: &Failure, json_out: bool) {
    if f.message.is_empty() {
        return;
    }
    if json_out {
        eprintln!(
            "{}",
            json!({"error": {"code": f.code, "message": f.message}})
        );
    } else {
        eprintln!("error: {}", f.message);
    }
}

fn main() -> ExitCode {
    let json_out = std::env::args_os().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if json_out && !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let detail = e.to_string();
                let first = detail
                    .lines()
                    .next()
                    .unwrap_or("invalid arguments")
                    .trim_start_matches("error: ");
                report(&usage(first), true);
                return ExitCode::from(2);
            }
            e.exit()
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            report(&f, json_out);
            ExitCode::from(f.exit)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_notes_say_what_is_shown() {
        assert_eq!(
            page_note(0, 50, 158),
            "showing 1–50 of 158; --offset/--limit for more"
        );
        assert_eq!(
            page_note(150, 8, 158),
            "showing 151–158 of 158; --offset/--limit for more"
        );
        assert_eq!(page_note(0, 3, 3), "showing all 3");
        assert_eq!(page_note(0, 0, 0), "no credit records");
        assert!(page_note(200, 0, 158).contains("past the end"));
    }

    #[test]
    fn short_never_cuts_a_character() {
        let wide = Value::String("x".to_string() + &"合".repeat(21));
        assert_eq!(wide.as_str().unwrap().len(), 64);
        assert_eq!(short(&wide), wide.as_str().unwrap());
        let hex = Value::String("ab".repeat(32));
        assert_eq!(short(&hex), "abababababab…");
    }

    /// Clap's own consistency checks over every subcommand (duplicate
    /// names, conflicting flags), which otherwise surface only when a user
    /// runs the subcommand.
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
