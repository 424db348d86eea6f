//! Generating local networks: `deltachain-node testnet` and `dev`.
//!
//! A testnet directory holds `genesis.json`, one home per validator named
//! after the pilot cities (`shanghai`, `nanjing`, `hangzhou`, `hefei`,
//! `jiaxing`, then `node6`, ...) with its `node.key` and `config.toml`, and
//! the demo members' keys under `members/`. Node i serves the API on
//! 127.0.0.1:(P+i) and listens for peers on 127.0.0.1:(P+100+i); full nodes
//! follow the validators' numbering.

use std::path::{Path, PathBuf};

use deltachain_protocol::{
    ConsensusParams, EnterpriseInfo, Genesis, Keypair, LedgerRules, MemberInfo, ValidatorInfo,
};

use crate::config::{random_key, write_key, ApiConfig, NodeConfig, P2pConfig};
use crate::testkit::{DEMO_ENTERPRISES, DEMO_MEMBERS};

/// The pilot zone's cities: (home name, city).
pub const CITIES: [(&str, &str); 5] = [
    ("shanghai", "Shanghai"),
    ("nanjing", "Nanjing"),
    ("hangzhou", "Hangzhou"),
    ("hefei", "Hefei"),
    ("jiaxing", "Jiaxing"),
];

/// Name and city of validator `i`.
pub fn validator_name(i: usize) -> (String, String) {
    match CITIES.get(i) {
        Some((n, c)) => (n.to_string(), c.to_string()),
        None => (format!("node{}", i + 1), format!("City {}", i + 1)),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn demo_members(dir: &Path) -> Result<Vec<MemberInfo>, String> {
    let mut out = Vec::new();
    for m in DEMO_MEMBERS {
        let key = random_key()?;
        write_key(&dir.join(format!("{}.key", m.name)), &key)?;
        out.push(m.info(&key));
    }
    Ok(out)
}

/// Keys for the demo enterprises, bound at genesis; each key file is
/// `members/enterprise-<USCC>.key`, so a demo can sign consents and read an
/// enterprise's own records.
fn demo_enterprises(dir: &Path) -> Result<Vec<EnterpriseInfo>, String> {
    let mut out = Vec::new();
    for uscc in DEMO_ENTERPRISES {
        let key = random_key()?;
        write_key(&dir.join(format!("enterprise-{uscc}.key")), &key)?;
        out.push(EnterpriseInfo {
            uscc: uscc.to_string(),
            public_key: key.public(),
        });
    }
    Ok(out)
}

fn node_config(
    name: &str,
    genesis_file: &str,
    api_port: u16,
    p2p_port: u16,
    peers: Vec<String>,
    full_nodes: Vec<String>,
) -> Result<String, String> {
    let cfg = NodeConfig {
        name: name.into(),
        genesis_file: genesis_file.into(),
        p2p: P2pConfig {
            listen: format!("/ip4/127.0.0.1/tcp/{p2p_port}"),
            peers,
            full_nodes,
        },
        api: ApiConfig {
            listen: format!("127.0.0.1:{api_port}"),
            ..ApiConfig::default()
        },
        ..NodeConfig::default()
    };
    toml::to_string_pretty(&cfg).map_err(|e| e.to_string())
}

/// Writes an `n`-validator network under `out`, plus `full_nodes`
/// non-validating nodes (`full1`, ...) that every validator allows and that
/// dial every validator. Refuses to overwrite a network.
pub fn testnet(
    out: &Path,
    n: usize,
    full_nodes: usize,
    base_port: u16,
    chain_id: &str,
    params: ConsensusParams,
    rules: LedgerRules,
) -> Result<Genesis, String> {
    if !(1..=100).contains(&n) {
        return Err(format!("--nodes must be between 1 and 100, got {n}"));
    }
    if full_nodes > 16 {
        return Err(format!("--full-nodes must be at most 16, got {full_nodes}"));
    }
    if base_port as usize + 100 + n + full_nodes > 65_535 {
        return Err(format!(
            "--base-port {base_port} leaves no room for {n} nodes"
        ));
    }
    if out.join("genesis.json").exists() {
        return Err(format!(
            "{} already holds a network; remove it or choose another --out",
            out.display()
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut full = Vec::new();
    for j in 0..full_nodes {
        let key = random_key()?;
        let peer = crate::network::peer_id_of(&key.public())?;
        full.push((format!("full{}", j + 1), key, peer));
    }
    let allowed: Vec<String> = full.iter().map(|(_, _, p)| p.to_string()).collect();
    let mut validators = Vec::new();
    let mut dial = Vec::new();
    for i in 0..n {
        let (name, city) = validator_name(i);
        let home = out.join(&name);
        std::fs::create_dir_all(&home)
            .map_err(|e| format!("cannot create {}: {e}", home.display()))?;
        let key = random_key()?;
        write_key(&home.join("node.key"), &key)?;
        let api = base_port + i as u16;
        let p2p = base_port + 100 + i as u16;
        write(
            &home.join("config.toml"),
            &node_config(
                &name,
                "../genesis.json",
                api,
                p2p,
                Vec::new(),
                allowed.clone(),
            )?,
        )?;
        dial.push(format!(
            "/ip4/127.0.0.1/tcp/{p2p}/p2p/{}",
            crate::network::peer_id_of(&key.public())?
        ));
        validators.push(ValidatorInfo {
            name,
            city,
            public_key: key.public(),
            p2p_addr: format!("/ip4/127.0.0.1/tcp/{p2p}"),
        });
    }
    let genesis = Genesis {
        chain_id: chain_id.into(),
        genesis_time: now_ms(),
        validators,
        members: demo_members(&out.join("members"))?,
        enterprises: demo_enterprises(&out.join("members"))?,
        params,
        rules,
    };
    genesis
        .validate()
        .map_err(|e| format!("generated genesis is invalid: {e}"))?;
    write(&out.join("genesis.json"), &genesis.to_json())?;
    for (j, (name, key, _)) in full.iter().enumerate() {
        let home = out.join(name);
        std::fs::create_dir_all(&home)
            .map_err(|e| format!("cannot create {}: {e}", home.display()))?;
        write_key(&home.join("node.key"), key)?;
        let api = base_port + (n + j) as u16;
        let p2p = base_port + 100 + (n + j) as u16;
        write(
            &home.join("config.toml"),
            &node_config(name, "../genesis.json", api, p2p, dial.clone(), Vec::new())?,
        )?;
    }
    Ok(genesis)
}

/// Creates a one-validator development home if `home` has none yet.
/// Returns true if it was created.
pub fn ensure_dev_home(home: &Path, api_port: u16, p2p_port: u16) -> Result<bool, String> {
    if home.join("genesis.json").exists() {
        return Ok(false);
    }
    std::fs::create_dir_all(home).map_err(|e| format!("cannot create {}: {e}", home.display()))?;
    let node_key_path: PathBuf = home.join("node.key");
    let key: Keypair = match crate::config::read_key(&node_key_path) {
        Ok(k) => k,
        Err(_) => {
            let k = random_key()?;
            write_key(&node_key_path, &k)?;
            k
        }
    };
    let params = ConsensusParams {
        timeout_commit_ms: 50,
        max_block_interval_ms: 3000,
        ..ConsensusParams::default()
    };
    let genesis = Genesis {
        chain_id: "deltachain-dev".into(),
        genesis_time: now_ms(),
        validators: vec![ValidatorInfo {
            name: "dev".into(),
            city: "Shanghai".into(),
            public_key: key.public(),
            p2p_addr: format!("/ip4/127.0.0.1/tcp/{p2p_port}"),
        }],
        members: demo_members(&home.join("members"))?,
        enterprises: demo_enterprises(&home.join("members"))?,
        params,
        rules: LedgerRules::default(),
    };
    write(
        &home.join("config.toml"),
        &node_config(
            "dev",
            "genesis.json",
            api_port,
            p2p_port,
            Vec::new(),
            Vec::new(),
        )?,
    )?;
    write(&home.join("genesis.json"), &genesis.to_json())?;
    Ok(true)
}
