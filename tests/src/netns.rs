//! Network namespaces for partition tests: one per node, with a data link
//! (p2p) on one of two bridges and a control link (API) on a third that is
//! never cut. Needs root and iproute2.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::bin;

/// True when the tests run as root (namespaces need it).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// Runs a command quietly; true if it succeeded.
pub fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// True when partitions can be made here.
pub fn available() -> bool {
    is_root() && sh(&["ip", "-V"])
}

/// The API of node `i` inside its namespace.
pub fn api(i: usize) -> String {
    format!("http://10.78.0.{}:7000", i + 1)
}

/// Rewrites a generated network's genesis and configs so that node `i`
/// listens on its namespace addresses.
pub fn move_into_namespaces(net: &crate::Net, n: usize) {
    let gpath = net.genesis();
    let mut g: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&gpath).unwrap()).unwrap();
    for (i, v) in g["validators"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .enumerate()
    {
        v["p2p_addr"] = serde_json::Value::String(format!("/ip4/10.77.0.{}/tcp/7100", i + 1));
    }
    std::fs::write(&gpath, serde_json::to_string_pretty(&g).unwrap()).unwrap();
    for i in 0..n {
        let cfg = net.home(i).join("config.toml");
        let text = std::fs::read_to_string(&cfg).unwrap();
        let text: String = text
            .lines()
            .map(|l| {
                if l.starts_with("listen = \"/ip4/") {
                    format!("listen = \"/ip4/10.77.0.{}/tcp/7100\"", i + 1)
                } else if l.starts_with("listen = \"127.0.0.1:") {
                    format!("listen = \"10.78.0.{}:7000\"", i + 1)
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&cfg, text).unwrap();
    }
}

/// The namespaces, bridges and node processes of one test.
pub struct Netns {
    tag: String,
    n: usize,
    procs: Vec<Option<Child>>,
}

impl Netns {
    fn ns(&self, i: usize) -> String {
        format!("dc{}n{i}", self.tag)
    }
    fn link(&self, kind: char, i: usize) -> String {
        format!("dc{}{kind}{i}", self.tag)
    }
    fn bridge(&self, side: char) -> String {
        format!("dc{}b{side}", self.tag)
    }

    /// Creates the bridges and one namespace per node.
    pub fn setup(n: usize) -> Netns {
        let tag = format!("{:04x}", std::process::id() % 0xffff);
        let me = Netns {
            tag,
            n,
            procs: (0..n).map(|_| None).collect(),
        };
        for side in ['a', 'b', 'c'] {
            assert!(
                sh(&["ip", "link", "add", &me.bridge(side), "type", "bridge"]),
                "cannot create bridges"
            );
            assert!(sh(&["ip", "link", "set", &me.bridge(side), "up"]));
        }
        assert!(sh(&[
            "ip",
            "addr",
            "add",
            "10.78.0.254/24",
            "dev",
            &me.bridge('c')
        ]));
        for i in 0..n {
            let ns = me.ns(i);
            assert!(sh(&["ip", "netns", "add", &ns]));
            sh(&["ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
            for (kind, net, bridge) in [('d', "10.77.0", 'a'), ('c', "10.78.0", 'c')] {
                let outside = me.link(kind, i);
                let inside = format!("{outside}p");
                assert!(sh(&[
                    "ip", "link", "add", &outside, "type", "veth", "peer", "name", &inside
                ]));
                assert!(sh(&["ip", "link", "set", &inside, "netns", &ns]));
                assert!(sh(&[
                    "ip",
                    "link",
                    "set",
                    &outside,
                    "master",
                    &me.bridge(bridge)
                ]));
                assert!(sh(&["ip", "link", "set", &outside, "up"]));
                assert!(sh(&[
                    "ip",
                    "netns",
                    "exec",
                    &ns,
                    "ip",
                    "addr",
                    "add",
                    &format!("{net}.{}/24", i + 1),
                    "dev",
                    &inside
                ]));
                assert!(sh(&[
                    "ip", "netns", "exec", &ns, "ip", "link", "set", &inside, "up"
                ]));
            }
        }
        me
    }

    /// Puts each node's data link on bridge a or b.
    pub fn split(&self, side_b: &[usize]) {
        for i in 0..self.n {
            let bridge = self.bridge(if side_b.contains(&i) { 'b' } else { 'a' });
            assert!(sh(&[
                "ip",
                "link",
                "set",
                &self.link('d', i),
                "master",
                &bridge
            ]));
        }
    }

    /// Starts node `i` of a network in its namespace.
    pub fn start(&mut self, i: usize, home: &Path) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join("node.log"))
            .unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(i)])
            .arg(bin("deltachain-node"))
            .args(["run", "--home"])
            .arg(home)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.procs[i] = Some(child);
    }
}

impl Netns {
    /// SIGKILLs node `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in self.procs.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for i in 0..self.n {
            sh(&["ip", "netns", "del", &self.ns(i)]);
            sh(&["ip", "link", "del", &self.link('d', i)]);
            sh(&["ip", "link", "del", &self.link('c', i)]);
        }
        for side in ['a', 'b', 'c'] {
            sh(&["ip", "link", "del", &self.bridge(side)]);
        }
    }
}

/// Each namespaced node's height (0 when it does not answer).
pub fn heights_ns(n: usize) -> Vec<u64> {
    (0..n)
        .map(|i| crate::height(&api(i)).unwrap_or(0))
        .collect()
}
