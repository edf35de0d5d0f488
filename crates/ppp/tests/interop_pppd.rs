//! Interop with a real pppd 2.4.9 (Debian) running in the lab's QEMU guest
//! (`/work/shared/lab/radius-l2tp/pppvm`), its serial line bridged to a unix socket on the
//! host. l2sec speaks async HDLC (RFC 1662) on that socket through a small framer in this
//! test; the crate itself carries frames without HDLC, as over L2TP.
//!
//! Both directions, with PAP, CHAP-MD5 and MS-CHAPv2, IPCP with DNS, LCP echo and an
//! orderly terminate. Every frame is written to a pcap and decoded by the lab's tshark
//! oracle. Needs qemu-system-x86_64, the lab guest (built here with the lab's build.sh if
//! `$VMDIR` has none) and tshark; the tests fail, loudly, when one is missing.

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use l2sec_ppp::secrets::ChapSecrets;
use l2sec_ppp::wire::{Frame, Packet, code, protocol};
use l2sec_ppp::{AuthMethod, Config, Event, PeerCredentials, Session};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const LAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/lab/radius-l2tp");
const GUESTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pppvm");

// ------------------------------------------------------------------ RFC 1662 async HDLC

/// RFC 1662 §C.2: the 16-bit FCS.
fn fcs16(data: &[u8]) -> u16 {
    let mut fcs: u16 = 0xffff;
    for &b in data {
        let mut x = (fcs ^ u16::from(b)) & 0xff;
        for _ in 0..8 {
            x = if x & 1 != 0 { (x >> 1) ^ 0x8408 } else { x >> 1 };
        }
        fcs = (fcs >> 8) ^ x;
    }
    fcs
}

fn hdlc_encode(frame: &[u8], out: &mut Vec<u8>) {
    let fcs = !fcs16(frame);
    out.push(0x7e);
    for &b in frame.iter().chain(&fcs.to_le_bytes()) {
        // Escape the flag, the escape and every control character (full ACCM): always valid.
        if b == 0x7e || b == 0x7d || b < 0x20 {
            out.extend_from_slice(&[0x7d, b ^ 0x20]);
        } else {
            out.push(b);
        }
    }
    out.push(0x7e);
}

/// Cuts complete frames out of `rx`, unescaping and checking the FCS (RFC 1662 §4).
fn hdlc_decode(rx: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    while let Some(end) = rx.iter().skip(1).position(|&b| b == 0x7e).map(|p| p + 1) {
        let raw: Vec<u8> = rx.drain(..end).collect();
        let mut f = Vec::new();
        let mut esc = false;
        for &b in &raw {
            match (b, esc) {
                (0x7e, _) => {}
                (0x7d, false) => esc = true,
                (b, true) => {
                    f.push(b ^ 0x20);
                    esc = false;
                }
                (b, false) => f.push(b),
            }
        }
        if f.len() >= 4 && fcs16(&f) == 0xf0b8 {
            f.truncate(f.len() - 2);
            frames.push(f);
        }
    }
    frames
}

#[test]
fn hdlc_framer_roundtrip() {
    let frame = [0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x04, 0x7e, 0x7d, 0x11];
    let mut wire = Vec::new();
    hdlc_encode(&frame, &mut wire);
    assert!(!wire[1..wire.len() - 1].contains(&0x7e));
    let mut rx = wire.clone();
    assert_eq!(hdlc_decode(&mut rx), vec![frame.to_vec()]);
    // A corrupted byte fails the FCS.
    wire[5] ^= 1;
    assert!(hdlc_decode(&mut wire).is_empty());
}

// ------------------------------------------------------------------ the guest

fn vmdir() -> PathBuf {
    if let Ok(v) = std::env::var("VMDIR") {
        return v.into();
    }
    let state = std::env::var("LAB_STATE").unwrap_or_else(|_| {
        format!("{}/l2sec-lab", std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".into()))
    });
    PathBuf::from(state).join("pppvm")
}

fn require(bin: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "interop: `{bin}` is not installed (see {LAB}/README.md, Install)");
}

fn ensure_guest() -> PathBuf {
    // Tests run in parallel threads: build the guest once.
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _once = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    require("qemu-system-x86_64");
    let dir = vmdir();
    if !dir.join("vmlinuz").exists() || !dir.join("initramfs.gz").exists() {
        let out =
            Command::new(format!("{LAB}/pppvm/build.sh")).arg(&dir).output().expect("run pppvm/build.sh");
        assert!(
            out.status.success(),
            "interop: pppvm/build.sh {} failed:\n{}{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dir
}

struct Guest {
    run: PathBuf,
}

impl Guest {
    fn start(script: &str, guest_env: &str) -> Guest {
        let vmdir = ensure_guest();
        let run =
            std::env::temp_dir().join(format!("l2sec-ppp-interop-{}-{}", std::process::id(), rand_tag()));
        std::fs::create_dir_all(&run).unwrap();
        let out = Command::new(format!("{LAB}/pppvm/run.sh"))
            .arg(&run)
            .arg(format!("{GUESTS}/{script}"))
            .env("VMDIR", &vmdir)
            .env("SERIAL", "socket")
            .env("GUEST_ENV", guest_env)
            .output()
            .expect("run pppvm/run.sh");
        assert!(
            out.status.success(),
            "interop: guest did not start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Guest { run }
    }

    fn console(&self) -> String {
        std::fs::read_to_string(self.run.join("console.log")).unwrap_or_default()
    }

    fn line(&self) -> Line {
        let sock =
            UnixStream::connect(self.run.join("ppp.sock")).expect("connect to the guest's serial socket");
        Line { sock, rx: Vec::new(), pcap: pcap_header() }
    }

    /// Waits until `needle` appears at least `n` times on the guest console.
    fn wait_console_n(&self, needle: &str, n: usize, within: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < within {
            if self.console().matches(needle).count() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = Command::new(format!("{LAB}/pppvm/stop.sh")).arg(&self.run).status();
    }
}

fn rand_tag() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn pcap_header() -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&65535u32.to_le_bytes());
    h.extend_from_slice(&204u32.to_le_bytes()); // LINKTYPE_PPP_WITH_DIR
    h
}

// ------------------------------------------------------------------ driving a session

struct Line {
    sock: UnixStream,
    rx: Vec<u8>,
    pcap: Vec<u8>,
}

impl Line {
    /// Direction octet: 1 = sent by l2sec (outbound), 0 = received from pppd.
    fn record(&mut self, sent: bool, frame: &[u8]) {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        let len = (frame.len() + 1) as u32;
        self.pcap.extend_from_slice(&(t.as_secs() as u32).to_le_bytes());
        self.pcap.extend_from_slice(&t.subsec_micros().to_le_bytes());
        self.pcap.extend_from_slice(&len.to_le_bytes());
        self.pcap.extend_from_slice(&len.to_le_bytes());
        self.pcap.push(u8::from(sent));
        self.pcap.extend_from_slice(frame);
    }
}

#[derive(Default)]
struct Log {
    events: Vec<Event>,
    received: Vec<Vec<u8>>,
    sent: Vec<Vec<u8>>,
}

impl Log {
    fn has(&self, f: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(f)
    }
    fn lcp_count(frames: &[Vec<u8>], c: u8) -> usize {
        frames
            .iter()
            .filter(|f| {
                Frame::parse(f).is_ok_and(|fr| {
                    fr.protocol == protocol::LCP && Packet::parse(fr.information).is_ok_and(|p| p.code == c)
                })
            })
            .count()
    }
}

/// Runs the session on the line until `done` holds or `within` passes; returns whether
/// `done` held.
fn drive(
    s: &mut Session<ChaCha20Rng>,
    line: &mut Line,
    secrets: Option<&ChapSecrets>,
    log: &mut Log,
    within: Duration,
    done: impl Fn(&Session<ChaCha20Rng>, &Log) -> bool,
) -> bool {
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let now = Instant::now();
        while s.poll_transmit(now, &mut buf).is_some() {
            let mut w = Vec::new();
            hdlc_encode(&buf, &mut w);
            line.sock.write_all(&w).expect("write to the serial socket");
            line.record(true, &buf);
            log.sent.push(std::mem::take(&mut buf));
        }
        while let Some(e) = s.poll_event() {
            if let (Event::Authenticate(r), Some(sec)) = (&e, secrets) {
                let v = sec.verify("l2sec", r);
                s.answer_auth(now, r.id, v).unwrap();
            }
            log.events.push(e);
        }
        if done(s, log) {
            return true;
        }
        if start.elapsed() > within {
            return false;
        }
        let wait = s
            .poll_timeout()
            .map(|d| d.saturating_duration_since(now))
            .unwrap_or(Duration::from_millis(50))
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        line.sock.set_read_timeout(Some(wait)).unwrap();
        match line.sock.read(&mut chunk) {
            Ok(0) => panic!("interop: the guest closed the serial line"),
            Ok(n) => line.rx.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("interop: serial read: {e}"),
        }
        let now = Instant::now();
        for f in hdlc_decode(&mut line.rx) {
            line.record(false, &f);
            // pppd's frames must all be accepted; a parse error here is a finding.
            s.handle_input(now, &f).unwrap_or_else(|e| panic!("l2sec rejected pppd's frame {f:02x?}: {e}"));
            log.received.push(f);
        }
        if s.poll_timeout().is_some_and(|d| d <= Instant::now()) {
            s.handle_timeout(Instant::now());
        }
    }
}

fn tshark_check(run: &Path, pcap: &[u8], name: &str) {
    require("tshark");
    let p = run.join(name);
    std::fs::write(&p, pcap).unwrap();
    let out = Command::new(format!("{LAB}/tshark/decode.sh")).arg(&p).output().expect("run tshark/decode.sh");
    assert!(
        out.status.success(),
        "tshark oracle flagged {}:\n{}",
        p.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

const METHODS: [(AuthMethod, &str, &str, &str); 3] = [
    (AuthMethod::Pap, "require-pap", "alice", "alicepass"),
    (AuthMethod::ChapMd5, "require-chap", "alice", "alicepass"),
    (AuthMethod::MsChapV2, "require-mschap-v2", "msuser", "mspass"),
];

#[test]
#[ignore = "interop: needs qemu-system-x86 + the lab pppvm guest + tshark; run by .ci/run with --ignored"]
fn interop_l2sec_peer_against_pppd_authenticator() {
    let g = Guest::start("guest-authenticator-loop.sh", "METHODS=require-pap require-chap require-mschap-v2");
    let mut line = g.line();
    for (i, (method, pppd_opt, user, pass)) in METHODS.into_iter().enumerate() {
        assert!(g.wait_console_n(&format!("LAB-SESSION-START {pppd_opt}"), 1, Duration::from_secs(20)));
        let mut cfg = Config::peer(PeerCredentials::new(user, pass));
        cfg.auth_methods = vec![method];
        cfg.echo_interval = Some(Duration::from_secs(1));
        cfg.echo_failure = 3;
        let mut s = Session::new(cfg, ChaCha20Rng::seed_from_u64(i as u64));
        let mut log = Log::default();
        s.open(Instant::now());
        let up = drive(&mut s, &mut line, None, &mut log, Duration::from_secs(40), |s, _| {
            s.ipv4().is_some() && s.stats().echo_replies_received >= 2
        });
        assert!(up, "{method:?}: not up with echoes: {:?}\n{s:?}\nconsole:\n{}", log.events, g.console());
        let v4 = s.ipv4().unwrap();
        assert_eq!(v4.local, Ipv4Addr::new(192, 0, 2, 10), "{method:?}");
        assert_eq!(v4.peer, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(v4.dns[0], Some(Ipv4Addr::new(192, 0, 2, 53)));
        assert!(log.has(|e| matches!(e, Event::Authenticated(a) if a.method == method)));
        if method == AuthMethod::MsChapV2 {
            // pppd's S= was checked against our own computation, and we derived MPPE keys.
            assert!(log.has(|e| matches!(e, Event::Authenticated(a) if a.mppe.is_some())));
        }
        // Orderly terminate: our Terminate-Request, pppd's Terminate-Ack, pppd exits.
        s.close(Instant::now(), "l2sec interop done");
        assert!(drive(&mut s, &mut line, None, &mut log, Duration::from_secs(15), |_, l| l
            .has(|e| matches!(e, Event::Finished))));
        assert!(Log::lcp_count(&log.received, code::TERMINATE_ACK) >= 1);
        assert!(
            g.wait_console_n(&format!("LAB-PPPD-EXIT {pppd_opt}"), 1, Duration::from_secs(10)),
            "pppd did not exit:\n{}",
            g.console()
        );
        assert!(
            g.wait_console_n("remote IP address 192.0.2.10", i + 1, Duration::from_secs(1)),
            "{}",
            g.console()
        );
    }
    tshark_check(&g.run, &line.pcap, "l2sec-peer-vs-pppd.pcap");
}

#[test]
#[ignore = "interop: needs qemu-system-x86 + the lab pppvm guest + tshark; run by .ci/run with --ignored"]
fn interop_l2sec_authenticator_against_pppd_peer() {
    let g = Guest::start("guest-peer-loop.sh", "USER=msuser;PASS=mspass;ROUNDS=1 2 3");
    let mut line = g.line();
    let secrets = ChapSecrets::parse("msuser * mspass *\n").unwrap();
    for (i, (method, _, _, _)) in METHODS.into_iter().enumerate() {
        assert!(g.wait_console_n(&format!("LAB-SESSION-START {}", i + 1), 1, Duration::from_secs(20)));
        let mut cfg = Config::authenticator("l2sec");
        cfg.auth_methods = vec![method];
        cfg.ipcp.local = Some(Ipv4Addr::new(192, 0, 2, 1));
        cfg.ipcp.peer = Some(Ipv4Addr::new(192, 0, 2, 10));
        cfg.ipcp.dns = [Some(Ipv4Addr::new(192, 0, 2, 53)), Some(Ipv4Addr::new(192, 0, 2, 54))];
        cfg.echo_interval = None;
        let mut s = Session::new(cfg, ChaCha20Rng::seed_from_u64(10 + i as u64));
        let mut log = Log::default();
        s.open(Instant::now());
        // Up, and pppd's own LCP echoes (lcp-echo-interval 1) answered by us.
        let up = drive(&mut s, &mut line, Some(&secrets), &mut log, Duration::from_secs(40), |s, l| {
            s.ipv4().is_some() && Log::lcp_count(&l.sent, code::ECHO_REPLY) >= 2
        });
        assert!(up, "{method:?}: {:?}\n{s:?}\nconsole:\n{}", log.events, g.console());
        assert_eq!(s.ipv4().unwrap().peer, Ipv4Addr::new(192, 0, 2, 10));
        assert!(log.has(|e| matches!(e, Event::Authenticated(a) if a.method == method)));
        assert!(
            g.wait_console_n("local  IP address 192.0.2.10", i + 1, Duration::from_secs(5)),
            "{}",
            g.console()
        );
        assert!(
            g.wait_console_n("primary   DNS address 192.0.2.53", i + 1, Duration::from_secs(5)),
            "{}",
            g.console()
        );
        s.close(Instant::now(), "l2sec interop done");
        assert!(drive(&mut s, &mut line, Some(&secrets), &mut log, Duration::from_secs(15), |_, l| l
            .has(|e| matches!(e, Event::Finished))));
        assert!(
            g.wait_console_n(&format!("LAB-PPPD-EXIT {} ", i + 1), 1, Duration::from_secs(10)),
            "{}",
            g.console()
        );
    }
    tshark_check(&g.run, &line.pcap, "l2sec-authenticator-vs-pppd.pcap");
}
