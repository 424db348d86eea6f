//! A peer built with a stock libp2p stack, holding a configured full node's
//! key, as another implementation would connect: it is answered on the
//! standard ping protocol, and if it announces the wrong identify version
//! it is told what differed.

use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{identify, identity, noise, ping, tcp, yamux, Multiaddr, Swarm};

use deltachain_tests::*;

#[derive(NetworkBehaviour)]
struct Foreign {
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

fn foreign(secret: [u8; 32], protocol_version: &str) -> Swarm<Foreign> {
    let mut secret = secret;
    let key = identity::Keypair::ed25519_from_bytes(&mut secret).unwrap();
    libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|k| Foreign {
            identify: identify::Behaviour::new(identify::Config::new(
                protocol_version.to_string(),
                k.public(),
            )),
            ping: ping::Behaviour::new(
                ping::Config::new().with_interval(Duration::from_millis(500)),
            ),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// Runs the swarm for at most `limit`; returns (pongs received, whether the
/// node closed the connection).
async fn run(swarm: &mut Swarm<Foreign>, addr: Multiaddr, limit: Duration) -> (usize, bool) {
    swarm.dial(addr).unwrap();
    let deadline = Instant::now() + limit;
    let mut pongs = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = match tokio::time::timeout(left, swarm.select_next_some()).await {
            Ok(ev) => ev,
            Err(_) => return (pongs, false),
        };
        match ev {
            SwarmEvent::Behaviour(ForeignEvent::Ping(ping::Event { result: Ok(_), .. })) => {
                pongs += 1
            }
            SwarmEvent::ConnectionClosed { .. } => return (pongs, true),
            _ => {}
        }
    }
}

#[test]
fn a_foreign_full_node_is_pinged_and_told_what_differed() {
    let _serial = serial();
    let net = Net::generate(1, 1, 300);
    let _v = net.start(0);
    wait_for("the validator's API", Duration::from_secs(30), || {
        height(&net.url(0)).is_some()
    });
    let genesis_hash = get(&net.url(0), "/v1/status").unwrap()["genesis_hash"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = deltachain_node::config::read_key(&net.home(1).join("node.key"))
        .unwrap()
        .secret();
    let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{}", net.base + 100)
        .parse()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();

    // Following the wire contract: answered on ping, kept connected.
    let mut good = rt.block_on(async { foreign(secret, &format!("/deltachain/{genesis_hash}")) });
    let (pongs, closed) = rt.block_on(run(&mut good, addr.clone(), Duration::from_secs(4)));
    assert!(!closed, "the node dropped a peer that follows the contract");
    assert!(pongs >= 3, "only {pongs} pongs");
    drop(good);

    // js-libp2p's default identify version: disconnected with the reason.
    let mut stock = rt.block_on(async { foreign(secret, "ipfs/0.1.0") });
    let (_, closed) = rt.block_on(run(&mut stock, addr, Duration::from_secs(10)));
    assert!(closed, "a peer announcing another protocol version stayed");
    let log = std::fs::read_to_string(net.home(0).join("node.log")).unwrap();
    assert!(
        log.contains("announces identify protocol version \\\"ipfs/0.1.0\\\"")
            || log.contains("announces identify protocol version \"ipfs/0.1.0\""),
        "{log}"
    );
    assert!(!log.contains("genesis differs"), "{log}");
}
