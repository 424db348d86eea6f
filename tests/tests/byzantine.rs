//! One faulty validator must not stop the others. Four validators; the
//! fourth runs a test build's deliberate misbehaviour
//! (`DELTACHAIN_TEST_MISBEHAVE`, compiled in only with the `byzantine-test`
//! feature the test crate turns on) while three honest ones keep
//! committing. Each attack is run in turn on one network, and the honest
//! commit rate must stay within half of the rate measured with the fourth
//! validator honest. The last-signed state is tested too: it survives a
//! deleted data directory, and the validator then refuses to sign below it.

use std::time::{Duration, Instant};

use deltachain_tests::*;

/// Blocks the slowest honest node commits in `window`.
fn rate(urls: &[String], window: Duration) -> u64 {
    let heights = |urls: &[String]| -> u64 {
        urls.iter()
            .map(|u| height(u).unwrap_or(0))
            .min()
            .unwrap_or(0)
    };
    let start = heights(urls);
    let t0 = Instant::now();
    std::thread::sleep(window);
    let end = heights(urls);
    let per_window = end.saturating_sub(start);
    eprintln!(
        "  {per_window} blocks in {:?} (heights {start}..{end})",
        t0.elapsed()
    );
    per_window
}

#[test]
fn one_faulty_validator_does_not_stop_three_honest_ones() {
    let _serial = serial();
    let net = Net::generate(4, 0, 300);
    let honest: Vec<NodeProc> = (0..3).map(|i| net.start(i)).collect();
    let urls: Vec<String> = (0..3).map(|i| net.url(i)).collect();
    let mut fourth = net.start(3);
    wait_for(
        "four validators committing",
        Duration::from_secs(60),
        || (0..4).all(|i| height(&net.url(i)).is_some_and(|h| h >= 3)),
    );
    let window = Duration::from_secs(8);
    eprintln!("baseline, all honest:");
    let baseline = rate(&urls, window);
    assert!(
        baseline >= 4,
        "the honest network is too slow to compare: {baseline}"
    );
    for attack in [
        "commit-spam",
        "future-flood",
        "tamper",
        "forge-votes",
        "lying-sync",
        "clock-skew",
    ] {
        fourth.kill();
        fourth = start_node_with_env(
            &net.home(3),
            net.url(3),
            &[("DELTACHAIN_TEST_MISBEHAVE", attack)],
        );
        wait_for(
            "the faulty validator's API",
            Duration::from_secs(30),
            || height(&net.url(3)).is_some(),
        );
        std::thread::sleep(Duration::from_secs(2));
        eprintln!("{attack}:");
        let got = rate(&urls, window);
        assert!(
            got * 2 >= baseline,
            "{attack}: honest validators committed {got} blocks in {window:?}, under half the baseline {baseline}"
        );
        for u in &urls {
            let s = get(u, "/v1/status").expect("status");
            assert_eq!(s["syncing"], false, "{attack}: {u} stuck syncing: {s}");
        }
    }
    let top = urls.iter().filter_map(|u| height(u)).min().unwrap();
    assert_same_chain(&urls, top);
    // Equivocation evidence names only the faulty validator (the commit
    // spammer signs junk precommits beside its real ones).
    for i in 0..3 {
        let log = std::fs::read_to_string(net.home(i).join("node.log")).unwrap();
        for line in log.lines().filter(|l| l.contains("EQUIVOCATION")) {
            assert!(line.contains("validator=3"), "node {i}: {line}");
        }
    }
    drop(honest);
}

/// The signing state survives a deleted data directory. A validator of a
/// one-validator chain signed up to some height; its database is deleted;
/// restarted, it must not sign those heights again (which would fork its
/// own chain), so the chain does not restart from height 1.
#[test]
fn the_signing_state_survives_a_deleted_data_directory() {
    let _serial = serial();
    let net = Net::generate(1, 0, 200);
    let mut node = net.start(0);
    wait_for("blocks", Duration::from_secs(30), || {
        height(&net.url(0)).is_some_and(|h| h >= 5)
    });
    node.terminate();
    let state = std::fs::read_to_string(net.home(0).join("signing_state.json"))
        .expect("the signing state is kept beside config.toml");
    let signed: serde_json::Value = serde_json::from_str(&state).unwrap();
    let signed_height = signed["height"].as_u64().unwrap();
    assert!(signed_height >= 5, "{state}");
    std::fs::remove_dir_all(net.home(0).join("data")).unwrap();
    let _node = net.start(0);
    wait_for("the API", Duration::from_secs(30), || {
        height(&net.url(0)).is_some()
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        height(&net.url(0)),
        Some(0),
        "the validator signed again below its signing state"
    );
    let log = std::fs::read_to_string(net.home(0).join("node.log")).unwrap();
    assert!(log.contains("signed at a height above our tip"), "{log}");
}
