//! A VPC lab in network namespaces, for netready's tests and benchmarks.
//!
//! ```text
//!  task ns                 vpc ns (router)                          aws ns ("public AWS")
//!  eth0 10.0.1.10/24 ─── tsk0 10.0.1.1/24                           
//!  default via .1          lo: 10.0.0.2 (dnsmasq, the VPC resolver)
//!                          lo: interface endpoint addresses :443
//!                          lo: 169.254.170.2 (task metadata :80)
//!                          wan0 198.51.100.1/24 ───────────────── up0 198.51.100.2/24
//!                          NAT: MASQUERADE, or SNAT to a "public IP",  lo: public service addresses :443
//!                          or nothing (an IGW subnet without public IP)   no route back to the VPC
//! ```
//!
//! Everything lives in namespaces the lab creates under a unique prefix, so labs run in parallel;
//! dropping the [`Lab`] stops its threads and processes and deletes its namespaces, also when a
//! test panics. Traffic never leaves these namespaces.

#![allow(unsafe_code)] // setns(2) to bind listeners inside a namespace.

pub mod browser;
mod error;
pub mod facts;
pub mod moto;
pub mod postgres;
pub mod prometheus;
pub mod pytools;
pub mod tls;
pub mod webhook;

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The "public IP" the internet-gateway path translates the task's address to.
pub const TASK_PUBLIC_IP: &str = "198.51.100.10";
/// The task metadata address, as on Fargate.
pub const METADATA_IP: &str = "169.254.170.2";
/// The VPC's IPv6 block: global unicast, as AWS allocates them (it exists only inside the lab).
pub const VPC_IPV6: &str = "2600:1f18:4a3:6900::/56";
/// The task subnet's IPv6 block and the task's address in it (when the lab gives the task IPv6).
pub const TASK_SUBNET_IPV6: &str = "2600:1f18:4a3:6901::/64";
pub const TASK_IPV6: &str = "2600:1f18:4a3:6901::10";
const ROUTER_IPV6: &str = "2600:1f18:4a3:6901::1";

pub use error::LabError;
pub use tls::ListenerTls;

/// Whether lab tests must run (CI, or `NETREADY_LAB=required`) rather than skip.
pub fn lab_required() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
        || std::env::var("NETREADY_LAB").is_ok_and(|v| v == "required")
}

/// Why this machine cannot run a lab, if it cannot: not root, or a tool is missing.
pub fn lab_unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("the namespace lab needs root (ip netns, iptables, dnsmasq)".into());
    }
    for tool in ["ip", "iptables", "dnsmasq"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false)
            || Path::new("/usr/sbin").join(tool).is_file();
        if !found {
            return Some(format!("the namespace lab needs `{tool}`: run scripts/install-test-deps.sh"));
        }
    }
    None
}

/// Why a test that needs `tool` (beyond the lab's own) cannot run here, if it cannot.
pub fn tool_missing(tool: &str) -> Option<String> {
    let found = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        || Path::new("/usr/sbin").join(tool).is_file();
    (!found).then(|| format!("this lab test needs `{tool}` (Debian package {tool})"))
}

/// Records that the running test skips (it returns early, which libtest counts as a pass): says so
/// on stderr and, when `NETREADY_SKIP_LOG` names a file (scripts/test sets it), appends the test's
/// name and the reason there, so the run's closing count shows it as skipped, not passed.
pub fn record_skip(why: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    eprintln!("SKIPPED (not a pass): {test}: {why}");
    if let Some(path) = std::env::var_os("NETREADY_SKIP_LOG") {
        let line = format!("{test}\t{why}\n");
        let _ =
            fs::OpenOptions::new().create(true).append(true).open(path).and_then(|mut f| f.write_all(line.as_bytes()));
    }
}

/// Starts a lab test: returns false (after saying so loudly) when the lab cannot run here and is
/// not required; panics when it is required. Use as `if !netready_lab::ready() { return; }`.
pub fn ready() -> bool {
    match lab_unavailable() {
        None => true,
        Some(why) if lab_required() => {
            panic!("lab test required (CI or NETREADY_LAB=required) but {why}")
        }
        Some(why) => {
            record_skip(&format!("{why}. Run as root, or set NETREADY_LAB=required to make this fail."));
            false
        }
    }
}

/// How the task reaches the "public AWS" namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Egress {
    /// A NAT gateway: the task's address is masqueraded behind the router's.
    Nat,
    /// An internet gateway with a public IP on the task: 1:1 to [`TASK_PUBLIC_IP`].
    InternetGateway,
    /// An internet gateway without a public IP: packets leave, answers never come back.
    None,
}

/// What a lab is made of. Addresses are strings for brevity; a bad one fails the build loudly.
#[derive(Debug, Clone)]
pub struct LabSpec {
    /// First two octets of the VPC, e.g. `[10, 0]`: task subnet X.Y.1.0/24, resolver X.Y.0.2.
    pub vpc: [u8; 2],
    pub egress: Egress,
    /// (hostname, addresses) answered by the VPC resolver.
    pub dns: Vec<(String, Vec<String>)>,
    /// (alias, target) CNAMEs; the target must be in `dns`.
    pub cnames: Vec<(String, String)>,
    /// (domain, address): the domain and every name below it.
    pub wildcards: Vec<(String, String)>,
    /// Addresses that accept connections on the port, inside the VPC (private) or in "public AWS".
    pub listeners: Vec<String>,
    /// Addresses that exist but accept nothing (connections are refused).
    pub closed: Vec<String>,
    /// The task metadata documents to serve, (task, container); none when `None`.
    pub metadata: Option<(String, String)>,
    pub port: u16,
    /// Whether listeners speak TLS (with certificates from the lab CA, which the task trusts).
    pub tls: bool,
    /// Listeners that present something else than the endpoint's certificate.
    pub tls_modes: Vec<(String, ListenerTls)>,
    /// Whether the task has an IPv6 address (and a route) in [`TASK_SUBNET_IPV6`].
    pub task_ipv6: bool,
}

impl Default for LabSpec {
    fn default() -> Self {
        Self {
            vpc: [10, 0],
            egress: Egress::Nat,
            dns: Vec::new(),
            cnames: Vec::new(),
            wildcards: Vec::new(),
            listeners: Vec::new(),
            closed: Vec::new(),
            metadata: None,
            port: 443,
            tls: true,
            tls_modes: Vec::new(),
            task_ipv6: false,
        }
    }
}

impl LabSpec {
    /// A name that resolves to `addrs`, each of which listens.
    pub fn endpoint(mut self, host: &str, addrs: &[&str]) -> Self {
        self.dns.push((host.to_owned(), addrs.iter().map(|a| (*a).to_owned()).collect()));
        self.listeners.extend(addrs.iter().map(|a| (*a).to_owned()));
        self.listeners.dedup();
        self
    }

    /// The lab most tests start from: the five endpoints of eu-west-3 (ECR registry
    /// 111122223333) as interface endpoints at 10.0.2.10–14, each listening.
    pub fn interface_endpoints() -> Self {
        let mut spec = LabSpec::default();
        for (host, ip) in [
            ("secretsmanager.eu-west-3.amazonaws.com", "10.0.2.10"),
            ("logs.eu-west-3.amazonaws.com", "10.0.2.11"),
            ("api.ecr.eu-west-3.amazonaws.com", "10.0.2.12"),
            ("111122223333.dkr.ecr.eu-west-3.amazonaws.com", "10.0.2.13"),
            ("s3.eu-west-3.amazonaws.com", "10.0.2.14"),
        ] {
            spec = spec.endpoint(host, &[ip]);
        }
        spec
    }

    /// The listener at `addr` presents `mode` instead of the endpoint's certificate.
    pub fn tls_mode(mut self, addr: &str, mode: ListenerTls) -> Self {
        self.tls_modes.push((addr.to_owned(), mode));
        self
    }

    /// Every name the lab answers, for the endpoint certificate.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.dns.iter().map(|(n, _)| n.clone()).collect();
        names.extend(self.cnames.iter().map(|(alias, _)| alias.clone()));
        for (domain, _) in &self.wildcards {
            names.push(domain.clone());
            names.push(format!("*.{domain}"));
        }
        names.sort();
        names.dedup();
        names
    }

    pub fn task_ip(&self) -> String {
        format!("{}.{}.1.10", self.vpc[0], self.vpc[1])
    }
    pub fn subnet(&self) -> String {
        format!("{}.{}.1.0/24", self.vpc[0], self.vpc[1])
    }
    pub fn resolver_ip(&self) -> String {
        format!("{}.{}.0.2", self.vpc[0], self.vpc[1])
    }
}

/// A built lab. Drop it to tear everything down.
#[derive(Debug)]
pub struct Lab {
    pub prefix: String,
    pub task_ns: String,
    pub vpc_ns: String,
    pub aws_ns: String,
    pub spec: LabSpec,
    dir: PathBuf,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    children: Vec<Child>,
    /// Connections accepted, per listening address.
    pub accepted: Arc<std::sync::Mutex<Vec<(String, SocketAddr)>>>,
    tls: Option<tls::LabTls>,
    /// The task metadata documents served, (task, container); replaced by [`Lab::set_metadata`].
    metadata: Arc<std::sync::Mutex<Option<(String, String)>>>,
    metadata_served: bool,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Lab {
    /// Builds the lab of `spec`. On failure everything built so far is torn down.
    pub fn build(spec: LabSpec) -> Result<Lab, LabError> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("nr{:x}x{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("netready-lab-{prefix}"));
        fs::create_dir_all(&dir).map_err(|e| LabError(format!("cannot create {}: {e}", dir.display())))?;
        let mut lab = Lab {
            task_ns: format!("{prefix}-task"),
            vpc_ns: format!("{prefix}-vpc"),
            aws_ns: format!("{prefix}-aws"),
            prefix,
            spec,
            dir,
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            children: Vec::new(),
            accepted: Arc::default(),
            tls: None,
            metadata: Arc::default(),
            metadata_served: false,
        };
        lab.tls = if lab.spec.tls { Some(tls::LabTls::new(&lab.spec.names())?) } else { None };
        if let Some(t) = &lab.tls {
            fs::write(lab.ca_file(), &t.ca_pem).map_err(|e| LabError(format!("lab CA file: {e}")))?;
        }
        lab.wire()?;
        Ok(lab)
    }

    fn wire(&mut self) -> Result<(), LabError> {
        let (t, v, a) = (self.task_ns.clone(), self.vpc_ns.clone(), self.aws_ns.clone());
        let s = self.spec.clone();
        let [x, y] = s.vpc;
        for ns in [&t, &v, &a] {
            run("ip", &["netns", "add", ns])?;
            self.ns(ns, &["ip", "link", "set", "lo", "up"])?;
        }
        run("ip", &["link", "add", "eth0", "netns", &t, "type", "veth", "peer", "name", "tsk0", "netns", &v])?;
        run("ip", &["link", "add", "wan0", "netns", &v, "type", "veth", "peer", "name", "up0", "netns", &a])?;
        let gw = format!("{x}.{y}.1.1");
        self.ns(&t, &["ip", "addr", "add", &format!("{}/24", s.task_ip()), "dev", "eth0"])?;
        self.ns(&t, &["ip", "link", "set", "eth0", "up"])?;
        self.ns(&t, &["ip", "route", "add", "default", "via", &gw])?;
        self.ns(&v, &["ip", "addr", "add", &format!("{gw}/24"), "dev", "tsk0"])?;
        self.ns(&v, &["ip", "link", "set", "tsk0", "up"])?;
        self.ns(&v, &["ip", "addr", "add", "198.51.100.1/24", "dev", "wan0"])?;
        self.ns(&v, &["ip", "link", "set", "wan0", "up"])?;
        self.ns(&v, &["ip", "route", "add", "default", "via", "198.51.100.2"])?;
        self.ns(&v, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        self.ns(&a, &["ip", "addr", "add", "198.51.100.2/24", "dev", "up0"])?;
        self.ns(&a, &["ip", "link", "set", "up0", "up"])?;
        // The "internet" has no IPv4 route to the VPC: only translated traffic gets answers.
        // IPv6 is routed as in AWS: the VPC's block is global, so "public AWS" routes it back.
        self.ns(&v, &["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"])?;
        self.ns(&v, &["ip", "-6", "addr", "add", &format!("{ROUTER_IPV6}/64"), "dev", "tsk0", "nodad"])?;
        self.ns(&v, &["ip", "-6", "addr", "add", "2001:db8:ffff::1/64", "dev", "wan0", "nodad"])?;
        self.ns(&v, &["ip", "-6", "route", "add", "default", "via", "2001:db8:ffff::2"])?;
        self.ns(&a, &["ip", "-6", "addr", "add", "2001:db8:ffff::2/64", "dev", "up0", "nodad"])?;
        self.ns(&a, &["ip", "-6", "route", "add", VPC_IPV6, "via", "2001:db8:ffff::1"])?;
        if s.task_ipv6 {
            self.ns(&t, &["ip", "-6", "addr", "add", &format!("{TASK_IPV6}/64"), "dev", "eth0", "nodad"])?;
            self.ns(&t, &["ip", "-6", "route", "add", "default", "via", ROUTER_IPV6])?;
        }

        self.ns(&v, &["ip", "addr", "add", &format!("{}/32", s.resolver_ip()), "dev", "lo"])?;
        self.ns(&v, &["ip", "addr", "add", &format!("{METADATA_IP}/32"), "dev", "lo"])?;
        let subnet = s.subnet();
        match s.egress {
            Egress::Nat => {
                self.ns(
                    &v,
                    &["iptables", "-t", "nat", "-A", "POSTROUTING", "-s", &subnet, "-o", "wan0", "-j", "MASQUERADE"],
                )?;
            }
            Egress::InternetGateway => {
                self.ns(&v, &["ip", "addr", "add", &format!("{TASK_PUBLIC_IP}/32"), "dev", "lo"])?;
                self.ns(
                    &v,
                    &[
                        "iptables",
                        "-t",
                        "nat",
                        "-A",
                        "POSTROUTING",
                        "-s",
                        &s.task_ip(),
                        "-o",
                        "wan0",
                        "-j",
                        "SNAT",
                        "--to-source",
                        TASK_PUBLIC_IP,
                    ],
                )?;
            }
            Egress::None => {}
        }

        // Service addresses: private ones inside the VPC router, public ones in "public AWS".
        let mut all: Vec<String> = s.listeners.clone();
        all.extend(s.closed.iter().cloned());
        all.extend(s.dns.iter().flat_map(|(_, a)| a.iter().cloned()));
        all.extend(s.wildcards.iter().map(|(_, a)| a.clone()));
        all.sort();
        all.dedup();
        // Special-purpose answers (a sinkhole's 0.0.0.0) exist only in DNS.
        all.retain(|a| a.parse::<IpAddr>().is_ok_and(|ip| !is_special(ip)));
        for addr in &all {
            let ns = self.owner(addr)?;
            let prefix = if addr.contains(':') { format!("{addr}/128") } else { format!("{addr}/32") };
            let mut args = vec!["netns", "exec", &ns, "ip", "addr", "add", &prefix, "dev", "lo"];
            if addr.contains(':') {
                args.push("nodad");
            }
            let out = Command::new("ip").args(&args).output();
            // Adding the same address twice is harmless.
            if let Ok(o) = out
                && !o.status.success()
                && !String::from_utf8_lossy(&o.stderr).contains("File exists")
            {
                return Err(LabError(format!("ip addr add {addr}: {}", String::from_utf8_lossy(&o.stderr))));
            }
        }
        for addr in s.listeners.clone() {
            self.listen(&addr, s.port)?;
        }
        if let Some(docs) = s.metadata.clone() {
            self.set_metadata(docs.0, docs.1)?;
        }
        self.start_dnsmasq()?;
        fs::create_dir_all(format!("/etc/netns/{t}")).map_err(|e| LabError(format!("/etc/netns/{t}: {e}")))?;
        fs::write(format!("/etc/netns/{t}/resolv.conf"), format!("nameserver {}\n", s.resolver_ip()))
            .map_err(|e| LabError(format!("resolv.conf: {e}")))?;
        Ok(())
    }

    /// The namespace an address lives in: private (in the VPC CIDR or RFC 1918 or 100.64/10)
    /// addresses in the router, others in "public AWS".
    fn owner(&self, addr: &str) -> Result<String, LabError> {
        if let Ok(v6) = addr.parse::<Ipv6Addr>() {
            let vpc = v6.segments()[..3] == [0x2600, 0x1f18, 0x04a3] && v6.segments()[3] & 0xff00 == 0x6900;
            let ula = v6.segments()[0] & 0xfe00 == 0xfc00;
            return Ok(if vpc || ula { self.vpc_ns.clone() } else { self.aws_ns.clone() });
        }
        let ip: Ipv4Addr = addr.parse().map_err(|_| LabError(format!("lab address '{addr}' is not an IP address")))?;
        let o = ip.octets();
        let in_vpc = [o[0], o[1]] == self.spec.vpc;
        Ok(if in_vpc || ip.is_private() || (o[0] == 100 && (64..128).contains(&o[1])) {
            self.vpc_ns.clone()
        } else {
            self.aws_ns.clone()
        })
    }

    /// Runs a command inside namespace `ns`.
    pub fn ns(&self, ns: &str, cmd: &[&str]) -> Result<Output, LabError> {
        let mut args = vec!["netns", "exec", ns];
        args.extend_from_slice(cmd);
        run("ip", &args)
    }

    /// Adds an iptables rule in namespace `ns` (a fault: DROP for silence, REJECT for a refusal).
    pub fn iptables(&self, ns: &str, rule: &[&str]) -> Result<(), LabError> {
        let mut cmd = vec!["iptables"];
        cmd.extend_from_slice(rule);
        self.ns(ns, &cmd).map(|_| ())
    }

    /// A listener on `addr:port` in the address's namespace: with TLS on, it completes a TLS
    /// handshake (as [`LabSpec::tls_modes`] says) and closes; otherwise it accepts and closes.
    pub fn listen(&mut self, addr: &str, port: u16) -> Result<(), LabError> {
        let ns = self.owner(addr)?;
        self.listen_in(&ns, addr, port)
    }

    /// A listener on `addr:port` in namespace `ns` (e.g. `0.0.0.0:443` in the task itself).
    pub fn listen_in(&mut self, ns: &str, addr: &str, port: u16) -> Result<(), LabError> {
        let ns = ns.to_owned();
        let ip: IpAddr = addr.parse().map_err(|_| LabError(format!("bad address {addr}")))?;
        let sock = SocketAddr::new(ip, port);
        let mode = self.spec.tls_modes.iter().find(|(a, _)| a == addr).map_or(ListenerTls::Endpoint, |(_, m)| *m);
        let tls = self.tls.clone();
        let listener = in_netns(&ns, move || TcpListener::bind(sock))?
            .map_err(|e| LabError(format!("bind {sock} in {ns}: {e}")))?;
        let stop = self.stop.clone();
        let accepted = self.accepted.clone();
        let name = addr.to_owned();
        self.threads.push(std::thread::spawn(move || {
            accept_until(&listener, &stop, |conn, peer| {
                if let Ok(mut log) = accepted.lock() {
                    log.push((name.clone(), peer));
                }
                if let Some(tls) = tls.clone() {
                    std::thread::spawn(move || tls.serve(conn, mode));
                }
            });
        }));
        Ok(())
    }

    /// Serves these task metadata documents from now on (starting the server at [`METADATA_IP`] if
    /// the lab had none): a test that learns the task ARN after the lab is built (from moto) says it.
    pub fn set_metadata(&mut self, task: String, container: String) -> Result<(), LabError> {
        if let Ok(mut docs) = self.metadata.lock() {
            *docs = Some((task, container));
        }
        if self.metadata_served {
            return Ok(());
        }
        self.metadata_served = true;
        let sock: SocketAddr = format!("{METADATA_IP}:80").parse().map_err(|_| LabError("metadata address".into()))?;
        let ns = self.vpc_ns.clone();
        let listener = in_netns(&ns, move || TcpListener::bind(sock))?
            .map_err(|e| LabError(format!("bind {sock} in {ns}: {e}")))?;
        let stop = self.stop.clone();
        let docs = self.metadata.clone();
        self.threads.push(std::thread::spawn(move || {
            accept_until(&listener, &stop, |conn, _| {
                let current = docs.lock().ok().and_then(|d| d.clone()).unwrap_or_default();
                serve_one(conn, &current.0, &current.1);
            });
        }));
        Ok(())
    }

    /// From now on the VPC resolver answers `host` with `addrs` (instead of what it answered), each
    /// of which exists and listens (with TLS, when the lab has it: `host` must have been one of the
    /// lab's names when it was built, for its certificate).
    pub fn set_dns(&mut self, host: &str, addrs: &[&str]) -> Result<(), LabError> {
        for addr in addrs {
            let ip: IpAddr =
                addr.parse().map_err(|_| LabError(format!("lab address '{addr}' is not an IP address")))?;
            let ns = self.owner(addr)?;
            let prefix = if ip.is_ipv6() { format!("{addr}/128") } else { format!("{addr}/32") };
            let out = Command::new("ip")
                .args(["netns", "exec", &ns, "ip", "addr", "add", &prefix, "dev", "lo"])
                .output()
                .map_err(|e| LabError(format!("ip: {e}")))?;
            let exists = String::from_utf8_lossy(&out.stderr).contains("File exists");
            if !out.status.success() && !exists {
                return Err(LabError(format!("ip addr add {addr}: {}", String::from_utf8_lossy(&out.stderr))));
            }
            if !self.spec.listeners.iter().any(|l| l == addr) {
                self.spec.listeners.push((*addr).to_owned());
                self.listen(addr, self.spec.port)?;
            }
        }
        let addrs: Vec<String> = addrs.iter().map(|a| (*a).to_owned()).collect();
        match self.spec.dns.iter_mut().find(|(name, _)| name == host) {
            Some(entry) => entry.1 = addrs,
            None => self.spec.dns.push((host.to_owned(), addrs)),
        }
        self.write_hosts()?;
        // dnsmasq reads its --addn-hosts file again on SIGHUP (and keeps no cache: --cache-size=0).
        let pid = self.children.first().map(|c| c.id()).ok_or_else(|| LabError("dnsmasq is not running".into()))?;
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGHUP);
        }
        std::thread::sleep(Duration::from_millis(100));
        Ok(())
    }

    fn write_hosts(&self) -> Result<(), LabError> {
        let mut text = String::new();
        for (name, addrs) in &self.spec.dns {
            for a in addrs {
                text.push_str(&format!("{a} {name}\n"));
            }
        }
        fs::write(self.dir.join("hosts"), text).map_err(|e| LabError(format!("hosts file: {e}")))
    }

    fn start_dnsmasq(&mut self) -> Result<(), LabError> {
        let hosts = self.dir.join("hosts");
        self.write_hosts()?;
        let mut args: Vec<String> = vec![
            "netns".into(),
            "exec".into(),
            self.vpc_ns.clone(),
            "dnsmasq".into(),
            "--keep-in-foreground".into(),
            "--conf-file=/dev/null".into(),
            "--no-resolv".into(),
            "--no-hosts".into(),
            "--no-poll".into(),
            "--user=root".into(),
            "--pid-file=".into(),
            "--cache-size=0".into(),
            "--bind-interfaces".into(),
            format!("--listen-address={}", self.spec.resolver_ip()),
            format!("--addn-hosts={}", hosts.display()),
            "--local=/amazonaws.com/".into(),
            "--local=/amazonaws.com.cn/".into(),
            "--log-queries".into(),
            "--log-facility=-".into(),
        ];
        for (alias, target) in &self.spec.cnames {
            args.push(format!("--cname={alias},{target}"));
        }
        for (domain, addr) in &self.spec.wildcards {
            args.push(format!("--address=/{domain}/{addr}"));
        }
        let log = fs::File::create(self.dir.join("dnsmasq.log")).map_err(|e| LabError(e.to_string()))?;
        let child = Command::new("ip")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| LabError(e.to_string()))?)
            .stderr(log)
            .spawn()
            .map_err(|e| LabError(format!("cannot start dnsmasq: {e}")))?;
        self.children.push(child);
        // Ready when its TCP port accepts, from inside the VPC.
        let resolver: SocketAddr =
            format!("{}:53", self.spec.resolver_ip()).parse().map_err(|_| LabError("resolver".into()))?;
        let vpc = self.vpc_ns.clone();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let up = in_netns(&vpc, move || TcpStream::connect_timeout(&resolver, Duration::from_millis(200)).is_ok())?;
            if up {
                return Ok(());
            }
            if let Some(Some(status)) = self.children.last_mut().map(|c| c.try_wait().ok().flatten()) {
                let log = fs::read_to_string(self.dir.join("dnsmasq.log")).unwrap_or_default();
                return Err(LabError(format!("dnsmasq exited with {status}: {log}")));
            }
            if Instant::now() > deadline {
                return Err(LabError("dnsmasq did not start within 5s".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A certificate and key (PEM) for `names`, from the lab CA (`by_lab`) or from the interception
    /// CA; `None` in a lab without TLS.
    pub fn server_pem(&self, names: &[&str], by_lab: bool) -> Option<(String, String)> {
        self.tls.as_ref().and_then(|t| t.server_pem(names, by_lab).ok())
    }

    /// The lab CA's certificate (PEM), which the task trusts: [`Lab::task_command`] passes it as
    /// `NETREADY_CA_FILE`, as a task's image carries Amazon's roots.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("lab-ca.pem")
    }

    /// A firewall that filters TLS by server name, as an AWS Network Firewall domain list does:
    /// packets to port 443 carrying `host` (the ClientHello's SNI) are dropped, or answered with a
    /// TCP reset when `reset`. The TCP handshake itself passes.
    pub fn filter_sni(&self, host: &str, reset: bool) -> Result<(), LabError> {
        let port = self.spec.port.to_string();
        for chain in ["INPUT", "FORWARD"] {
            let mut rule =
                vec!["-A", chain, "-p", "tcp", "--dport", &port, "-m", "string", "--algo", "bm", "--string", host];
            if reset {
                rule.extend(["-j", "REJECT", "--reject-with", "tcp-reset"]);
            } else {
                rule.extend(["-j", "DROP"]);
            }
            self.iptables(&self.vpc_ns, &rule)?;
        }
        Ok(())
    }

    /// A path-MTU black hole on the way back to the task: packets from the service port longer than
    /// `mtu` bytes are dropped silently, without the ICMP "fragmentation needed" that would make
    /// the sender use smaller ones — as when a hop with a smaller MTU meets a firewall that drops
    /// ICMP. Segmentation offload is switched off on the lab's veth pairs first, so the rule sees
    /// packets as they are on the wire, not the large buffers the kernel splits later. Needs
    /// `ethtool` ([`tool_missing`]).
    pub fn drop_large_replies(&self, mtu: u16) -> Result<(), LabError> {
        for (ns, dev) in
            [(&self.task_ns, "eth0"), (&self.vpc_ns, "tsk0"), (&self.vpc_ns, "wan0"), (&self.aws_ns, "up0")]
        {
            self.ns(ns, &["ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off"])?;
        }
        let (port, longer) = (self.spec.port.to_string(), format!("{}:65535", u32::from(mtu) + 1));
        for chain in ["OUTPUT", "FORWARD"] {
            let rule = ["-A", chain, "-o", "tsk0", "-p", "tcp", "--sport", &port, "-m", "length", "--length", &longer];
            let mut rule = rule.to_vec();
            rule.extend(["-j", "DROP"]);
            self.iptables(&self.vpc_ns, &rule)?;
        }
        Ok(())
    }

    /// What dnsmasq logged (queries included), for failure messages.
    pub fn dns_log(&self) -> String {
        fs::read_to_string(self.dir.join("dnsmasq.log")).unwrap_or_default()
    }

    /// A command that runs `program` inside the task namespace with an empty environment but PATH
    /// (the caller adds what the test needs).
    pub fn task_command(&self, program: &Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.task_ns]).arg(program);
        cmd.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
        if self.tls.is_some() {
            cmd.env("NETREADY_CA_FILE", self.ca_file());
        }
        cmd
    }

    /// The connections accepted so far, waiting up to `within` for at least `n` (listeners accept
    /// on threads of their own, so a connection that completed may not be logged yet).
    pub fn accepted_at_least(&self, n: usize, within: Duration) -> Vec<(String, SocketAddr)> {
        let deadline = Instant::now() + within;
        loop {
            let seen = self.accepted.lock().map(|l| l.clone()).unwrap_or_default();
            if seen.len() >= n || Instant::now() > deadline {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The metadata URI to give the task (`ECS_CONTAINER_METADATA_URI_V4`).
    pub fn metadata_uri(&self) -> String {
        format!("http://{METADATA_IP}/v4/lab-container")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        for ns in [&self.task_ns, &self.vpc_ns, &self.aws_ns] {
            let _ = Command::new("ip").args(["netns", "delete", ns]).stderr(Stdio::null()).status();
        }
        let _ = fs::remove_dir_all(format!("/etc/netns/{}", self.task_ns));
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Runs `f` on a thread that has entered namespace `ns`; sockets it creates stay in that namespace.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> Result<T, LabError> {
    let path = format!("/var/run/netns/{ns}");
    let file = fs::File::open(&path).map_err(|e| LabError(format!("open {path}: {e}")))?;
    std::thread::spawn(move || {
        // SAFETY: setns on a valid namespace fd affects only this thread, which runs `f` and ends.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(LabError(format!("setns: {}", std::io::Error::last_os_error())));
        }
        Ok(f())
    })
    .join()
    .map_err(|_| LabError("namespace thread panicked".into()))?
}

/// Accepts connections on `listener` and hands each to `serve` until `stop` is set. It waits in
/// poll(2), so a connection is taken the moment it is queued (a listener that slept between tries
/// added up to its sleep to every handshake, which the check bench measures); the 50 ms timeout
/// only bounds how long `stop` goes unseen.
fn accept_until(listener: &TcpListener, stop: &AtomicBool, mut serve: impl FnMut(TcpStream, SocketAddr)) {
    // Non-blocking, so that a connection reset between poll and accept cannot block `stop` out.
    let _ = listener.set_nonblocking(true);
    let mut pollfd = libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: one valid pollfd, for a descriptor `listener` keeps open.
        let ready = unsafe { libc::poll(&mut pollfd, 1, 50) };
        if ready <= 0 {
            continue; // timeout, or EINTR: look at `stop` again
        }
        if let Ok((conn, peer)) = listener.accept() {
            serve(conn, peer);
        }
    }
}

/// Whether an address can only be a DNS sinkhole's answer (never a lab host).
fn is_special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_loopback() || v4.is_link_local() || v4.octets()[0] == 0,
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_loopback(),
    }
}

fn run(program: &str, args: &[&str]) -> Result<Output, LabError> {
    let out = Command::new(program).args(args).output().map_err(|e| LabError(format!("{program}: {e}")))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(LabError(format!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
    }
}

/// Answers one HTTP/1.1 request for the task metadata: `/task` gets the task document, anything
/// else the container document.
fn serve_one(mut conn: TcpStream, task: &str, container: &str) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 4096];
    let mut req = Vec::new();
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&req).lines().next().unwrap_or_default().to_owned();
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let body = if path.trim_end_matches('/').ends_with("/task") { task } else { container };
    let _ = write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// A minimal HTTP/1.1 exchange for tests: sends one request to `addr` and returns the status code
/// and body. `Connection: close`; bodies are read to the end.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let conn = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    http_on(conn, addr, method, path, headers, body)
}

/// [`http`] from the local address `src` (any 127.x.y.z stands for a distinct client on loopback).
pub fn http_from(
    src: Ipv4Addr,
    addr: SocketAddrV4,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let sockaddr = |a: SocketAddrV4| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a new socket, owned by the TcpStream at once; bind and connect get valid sockaddr_in.
    let conn = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let conn = <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd);
        let (local, remote) = (sockaddr(SocketAddrV4::new(src, 0)), sockaddr(addr));
        if libc::bind(fd, (&raw const local).cast(), len) != 0
            || libc::connect(fd, (&raw const remote).cast(), len) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        conn
    };
    http_on(conn, SocketAddr::V4(addr), method, path, headers, body)
}

fn http_on(
    mut conn: TcpStream,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    conn.write_all(req.as_bytes())?;
    conn.write_all(body)?;
    // Read the head, then as much body as it announces (servers may keep the connection open).
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break raw.len();
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let length =
        head.lines().find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)));
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let body_len = raw.len() - head_end;
        let done = match length {
            Some(n) => body_len >= n,
            None if chunked => raw.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if done {
            break;
        }
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let rest = String::from_utf8_lossy(&raw[head_end..]).into_owned();
    Ok((status, if chunked { dechunk(&rest) } else { rest }))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// Posts a report body to a plane at `addr` with a runner's token, as the agent would; returns the
/// status code and body.
pub fn post_report(addr: SocketAddr, runner_id: &str, token: &str, body: &str) -> std::io::Result<(u16, String)> {
    let auth = format!("Bearer {token}");
    http(
        addr,
        "POST",
        &format!("/api/v1/runners/{runner_id}/network-readiness"),
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// [`http`] from inside namespace `ns`.
pub fn http_in(
    ns: &str,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let (method, path, body) = (method.to_owned(), path.to_owned(), body.to_vec());
    let headers: Vec<(String, String)> = headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    in_netns(ns, move || {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        http(addr, &method, &path, &h, &body)
    })
    .map_err(|e| std::io::Error::other(e.0))?
}

/// A directory under the system's temporary directory, unique to this process and call, removed
/// with what it holds when dropped (also when a test fails).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// `netready-<name>-<pid>-<n>`, created empty.
    pub fn new(name: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("netready-{name}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }

    /// A SQLite database file in it, as `--database` takes it.
    pub fn db(&self) -> String {
        self.0.join("plane.db").display().to_string()
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (SIGKILL) and reaped when dropped, with its output captured to files.
#[derive(Debug)]
pub struct Proc {
    pub child: Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Proc {
    /// Spawns `cmd` with stdout and stderr going to files under the temporary directory.
    pub fn spawn(mut cmd: Command, name: &str) -> std::io::Result<Proc> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = std::env::temp_dir().join(format!("netready-proc-{}-{n}-{name}", std::process::id()));
        let stdout = base.with_extension("out");
        let stderr = base.with_extension("err");
        let child =
            cmd.stdin(Stdio::null()).stdout(fs::File::create(&stdout)?).stderr(fs::File::create(&stderr)?).spawn()?;
        Ok(Proc { child, stdout, stderr })
    }

    pub fn output(&self) -> (String, String) {
        (fs::read_to_string(&self.stdout).unwrap_or_default(), fs::read_to_string(&self.stderr).unwrap_or_default())
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, signal);
        }
    }

    /// Waits up to `within` for the process to exit; its exit code, or None if still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(&self.stdout);
        let _ = fs::remove_file(&self.stderr);
    }
}

/// Polls `f` every 50 ms until it returns `Some`, for at most `within`.
pub fn eventually<T>(within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Registers a runner with `netready plane runner add` (the binary at `bin`) in `database`;
/// returns its id and token as printed.
pub fn runner_add(bin: &Path, database: &str, name: &str) -> (String, String) {
    let out = Command::new(bin)
        .args(["plane", "runner", "add", name, "--database", database])
        .env_clear()
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    assert!(out.status.success(), "runner add failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |label: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no '{label}' in: {text}"))
            .trim()
            .to_owned()
    };
    (field("runner id:"), field("runner token:"))
}

/// An address on loopback with a port nothing listens on now (bound, then released).
pub fn free_loopback_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port on 127.0.0.1")
}

/// `netready plane serve` (the binary at `bin`) on `addr`, with the database `database`, the admin
/// token `admin`, the flags `extra` and nothing else from the environment; returned once its
/// `/readyz` answers 200 (the database answers and the report writer runs).
pub fn start_plane(bin: &Path, database: &str, addr: SocketAddr, admin: &str, extra: &[&str]) -> Proc {
    let mut cmd = Command::new(bin);
    cmd.args(["plane", "serve", "--database", database, "--listen", &addr.to_string()])
        .args(extra)
        .env_clear()
        .env("NETREADY_ADMIN_TOKEN", admin);
    let plane = Proc::spawn(cmd, "plane").unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    eventually(Duration::from_secs(10), || http(addr, "GET", "/readyz", &[], b"").ok().filter(|(s, _)| *s == 200))
        .unwrap_or_else(|| panic!("the plane did not start: {:?}", plane.output()));
    plane
}
