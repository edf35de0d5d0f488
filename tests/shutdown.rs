//! SIGINT/SIGTERM: the example server and client hang up politely, and the peer sees each
//! layer go: PPP LCP Terminate, L2TP CDN/StopCCN, IKE Deletes of the ESP and ISAKMP SAs.
//! The examples run as processes over real UDP sockets on 127.0.0.1. `cargo test` builds
//! the examples first; `cargo test --test shutdown` alone does not: run
//! `cargo build --examples` before it, or it tests stale (or missing) binaries.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use l2sec::client::ClientEvent;
use l2sec::driver::{ClientConnection, ClientRun, Server, ServerConfig, ServerEvent};
use l2sec::lns::DownCause;
use l2sec::pool::AddressPool;
use l2sec_ppp::secrets::ChapSecrets;

/// An example's binary, next to this test's (`target/<profile>/examples/NAME`).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: build the examples first (`cargo test -p l2sec` builds them, or `cargo build --examples`)",
        path.display()
    );
    path
}

/// Two free UDP ports on 127.0.0.1, one after the other (IKE, NAT-T).
fn free_ports() -> (u16, u16) {
    for _ in 0..100 {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        if port < u16::MAX && UdpSocket::bind(("127.0.0.1", port + 1)).is_ok() {
            return (port, port + 1);
        }
    }
    panic!("no two adjacent free UDP ports on 127.0.0.1");
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill").args([format!("-{name}"), child.id().to_string()]).status().unwrap();
    assert!(ok.success(), "kill -{name} failed");
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let until = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("the process did not exit within {within:?} of the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Lines of a child's stdout as they come.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn server_sigterm_hangs_up_every_layer_and_the_client_sees_it() {
    let dir = std::env::temp_dir().join(format!("l2sec-shutdown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ike, natt) = free_ports();
    std::fs::write(dir.join("users"), "alice * alicepass *\n").unwrap();
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1\"\nike-port = {ike}\nnatt-port = {natt}\npsk = \"shutdown psk\"\n\
             users = \"{}\"\nevents = \"json\"\n",
            dir.join("users").display()
        ),
    )
    .unwrap();
    let mut server = Command::new(example("server"))
        .args(["--config", config.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let server_lines = lines(&mut server);
    // Connect (retrying until the server has bound its sockets).
    let run = ClientRun {
        server: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), ike),
        natt_port: natt,
        psk: b"shutdown psk".to_vec(),
        user: "alice".into(),
        password: "alicepass".into(),
        ping: None,
        timeout: Duration::from_secs(10),
    };
    let events = std::cell::RefCell::new(Vec::new());
    let mut record = |e: &ClientEvent| events.borrow_mut().push(format!("{e:?}"));
    let start = Instant::now();
    let mut c = ClientConnection::start(&run).unwrap();
    while c.address().is_none() {
        assert!(start.elapsed() < Duration::from_secs(15), "no tunnel: {:?}", c.failure());
        if c.failure().is_some() || start.elapsed() > Duration::from_secs(3) && c.address().is_none() {
            // The first IKE message may have gone out before the server listened.
            c = ClientConnection::start(&run).unwrap();
        }
        if !c.step(&mut record).unwrap() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    signal(&server, "TERM");
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until && !events.borrow().iter().any(|e| e.contains("server deleted")) {
        if !c.step(&mut record).unwrap() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let status = wait_exit(&mut server, Duration::from_secs(5));
    assert!(status.success(), "server exit status {status}");
    // The process has exited: read its output to the end.
    let mut said = Vec::new();
    while let Ok(line) = server_lines.recv_timeout(Duration::from_secs(2)) {
        said.push(line);
    }
    let events_text = events.borrow().join("\n");
    // PPP: the server's LCP Terminate-Request took the link down.
    assert!(events_text.contains("PPP link down"), "client events:\n{events_text}");
    // L2TP: CDN (or StopCCN) from the server.
    assert!(events_text.contains("L2TP down"), "client events:\n{events_text}");
    // IKE: the server's Delete.
    assert!(events_text.contains("server deleted the SAs"), "client events:\n{events_text}");
    let said = said.join("\n");
    assert!(said.contains(r#""event":"session_down""#), "server events:\n{said}");
    assert!(said.contains(r#""cause":"admin-reboot""#), "server events:\n{said}");
    assert!(said.contains(r#""event":"ike_down""#), "server events:\n{said}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn client_sigterm_hangs_up_and_the_server_frees_the_session() {
    let users = ChapSecrets::parse("bob * bobpass *\n").unwrap();
    let pool = AddressPool::parse_cidr("198.51.100.0/24").unwrap().unwrap();
    let config =
        ServerConfig::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0, 0, b"psk two", users, pool, [None, None]);
    let mut server = Server::bind(config).unwrap();
    let (ike, natt) = server.local_addrs().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::<ServerEvent>::new()));
    let thread = {
        let (stop, seen) = (stop.clone(), seen.clone());
        std::thread::spawn(move || server.run(&stop, |e| seen.lock().unwrap().push(e.clone())))
    };
    let mut client = Command::new(example("client"))
        .args([
            "--server",
            &ike.to_string(),
            "--natt-port",
            &natt.port().to_string(),
            "--psk",
            "psk two",
            "--user",
            "bob",
            "--password",
            "bobpass",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = lines(&mut client);
    let up = out.recv_timeout(Duration::from_secs(15)).expect("the client printed nothing");
    assert!(up.starts_with("tunnel up: address 198.51.100."), "{up}");
    // It holds the tunnel: still running a moment later.
    std::thread::sleep(Duration::from_millis(300));
    assert!(client.try_wait().unwrap().is_none(), "the client exited without a signal");
    signal(&client, "INT");
    let status = wait_exit(&mut client, Duration::from_secs(5));
    assert!(status.success(), "client exit status {status}");
    let until = Instant::now() + Duration::from_secs(3);
    let (mut session_down, mut ike_down) = (false, false);
    while Instant::now() < until && !(session_down && ike_down) {
        let seen = seen.lock().unwrap();
        session_down = seen.iter().any(|e| {
            matches!(e, ServerEvent::SessionDown { address: Some(_), cause: DownCause::UserRequest })
        });
        ike_down = seen.iter().any(|e| matches!(e, ServerEvent::IkeDown { dead: false, .. }));
        drop(seen);
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap().unwrap();
    let seen = seen.lock().unwrap();
    assert!(session_down, "no session_down at the server: {seen:?}");
    assert!(ike_down, "no Delete seen by the server: {seen:?}");
}
