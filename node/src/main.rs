//! `deltachain-node`: run a Deltachain validator, or generate keys and local
//! networks.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use deltachain_node::{config, devnet, network, node};
use deltachain_protocol::{ConsensusParams, LedgerRules};

#[derive(Parser)]
#[command(
    name = "deltachain-node",
    version,
    about = "Deltachain validator node for the Yangtze River Delta credit chain"
)]
struct Cli {
    /// Log format on stderr: `text` for people, `json` (one object a line)
    /// for log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "DELTACHAIN_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Write a new node key (mode 0600) and print its public key and PeerId.
    Keygen {
        /// Key file to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a local N-validator network: genesis, one home per city, demo member keys.
    Testnet {
        /// Number of validators.
        #[arg(long, default_value_t = 5)]
        nodes: usize,
        /// Number of non-validating full nodes (full1, ...), allowed by every validator.
        #[arg(long, default_value_t = 0)]
        full_nodes: usize,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Node i serves its API on base+i and listens for peers on base+100+i.
        #[arg(long, default_value_t = 7070)]
        base_port: u16,
        /// Chain id.
        #[arg(long, default_value = "deltachain-testnet")]
        chain_id: String,
        /// Longest an idle proposer waits for transactions before an empty block.
        #[arg(long, default_value_t = 3000)]
        block_interval_ms: u64,
        /// Most transactions in one block (genesis `params.max_block_txs`).
        #[arg(long, default_value_t = ConsensusParams::default().max_block_txs)]
        max_block_txs: u32,
        /// Seconds of block time a reporter has to answer an objection
        /// (genesis `rules.objection_answer_secs`; 20 days by regulation,
        /// shorter only for test networks).
        #[arg(long, default_value_t = LedgerRules::default().objection_answer_secs)]
        objection_answer_secs: u64,
    },
    /// Run a node from its home directory.
    Run {
        /// Home directory with config.toml and node.key.
        #[arg(long)]
        home: PathBuf,
    },
    /// Run a one-validator development chain (API on 127.0.0.1:7070).
    Dev {
        /// Home directory; created with demo member keys on first run.
        #[arg(long, default_value = ".deltachain-dev")]
        home: PathBuf,
        /// API port, used when the home is created.
        #[arg(long, default_value_t = 7070)]
        api_port: u16,
        /// Peer port, used when the home is created.
        #[arg(long, default_value_t = 7170)]
        p2p_port: u16,
    },
    /// Replay a stopped node's chain from genesis and check every block,
    /// certificate, receipt and the state.
    Audit {
        /// Home directory.
        #[arg(long)]
        home: PathBuf,
    },
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,libp2p_gossipsub=warn,libp2p_swarm=warn")
    });
    use std::io::IsTerminal;
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => fmt.with_ansi(std::io::stderr().is_terminal()).init(),
        // One JSON object a line: timestamp, level, target, message and the
        // event's fields at the top level, as log shippers expect.
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

fn run_node(home: PathBuf) -> anyhow::Result<()> {
    let setup = node::Setup::load(&home)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(node::run(setup))?;
    // Do not wait for lingering blocking tasks: shutdown must be quick.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(())
}

/// glibc gives threads that contend for `malloc` their own arenas, up to
/// eight per core. A node's tokio, sled and libp2p threads allocate and free
/// whole blocks of transactions across threads, so the default left a node
/// with 16 arenas of fragmented memory. Measured with
/// `scripts/bench.sh --nodes 4 --txs 60000` in alternating runs, two arenas
/// cut peak RSS per node from 330–415 MB to 270–305 MB at the same
/// throughput (BENCHMARKS.md). An operator's `MALLOC_ARENA_MAX` still wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes an allocator tunable, and this runs
        // first in `main`, before any other thread exists.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    let log_format = cli.log_format;
    init_logging(log_format);
    let result: anyhow::Result<()> = match cli.command {
        Command::Keygen { out } => (|| {
            let key = config::random_key().map_err(anyhow::Error::msg)?;
            config::write_key(&out, &key).map_err(anyhow::Error::msg)?;
            println!("public key: {}", key.public());
            println!(
                "peer id:    {}",
                network::peer_id_of(&key.public()).map_err(anyhow::Error::msg)?
            );
            println!("written to: {}", out.display());
            Ok(())
        })(),
        Command::Testnet {
            nodes,
            full_nodes,
            out,
            base_port,
            chain_id,
            block_interval_ms,
            max_block_txs,
            objection_answer_secs,
        } => (|| {
            let params = ConsensusParams {
                max_block_interval_ms: block_interval_ms.max(1),
                max_block_txs,
                ..ConsensusParams::default()
            };
            let rules = LedgerRules {
                objection_answer_secs,
            };
            let g = devnet::testnet(&out, nodes, full_nodes, base_port, &chain_id, params, rules)
                .map_err(anyhow::Error::msg)?;
            println!(
                "wrote a {nodes}-validator network for chain {} to {}",
                g.chain_id,
                out.display()
            );
            for (i, v) in g.validators.iter().enumerate() {
                println!(
                    "  {:<10} api http://127.0.0.1:{}  p2p {}  home {}",
                    v.name,
                    base_port as usize + i,
                    v.p2p_addr,
                    out.join(&v.name).display()
                );
            }
            for j in 0..full_nodes {
                println!(
                    "  {:<10} api http://127.0.0.1:{}  (full node)",
                    format!("full{}", j + 1),
                    base_port as usize + nodes + j
                );
            }
            println!("member keys in {}", out.join("members").display());
            println!(
                "start each node with: deltachain-node run --home {}/<city>",
                out.display()
            );
            Ok(())
        })(),
        Command::Run { home } => run_node(home),
        Command::Dev {
            home,
            api_port,
            p2p_port,
        } => (|| {
            if devnet::ensure_dev_home(&home, api_port, p2p_port).map_err(anyhow::Error::msg)? {
                tracing::info!(home = %home.display(), members = %home.join("members").display(),
                    "created a development chain");
            }
            run_node(home)
        })(),
        Command::Audit { home } => (|| {
            let setup = node::Setup::load(&home)?;
            let store = deltachain_node::storage::Store::open_with_cache(
                &home.join(&setup.config.data_dir),
                &setup.genesis,
                setup.config.storage.cache_mb << 20,
            )?;
            let h = store.audit(&setup.genesis)?;
            println!("chain is consistent through height {h}");
            Ok(())
        })(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if log_format == LogFormat::Json {
                tracing::error!(error = %format!("{e:#}"), "stopped");
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}
