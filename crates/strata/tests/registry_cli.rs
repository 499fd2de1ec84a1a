//! `strata registry serve` as a user runs it: `--root DIR` is the registry's storage,
//! `--demo` publishes the sample, and a second store pulls from it over TCP.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_with_root_and_demo_then_pull_from_another_store() {
    let env = Env::new();
    let reg_root = env.dir.path().join("my-registry");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let _server = Child(
        env.cmd(&[
            "registry",
            "serve",
            "--root",
            reg_root.to_str().unwrap(),
            "--addr",
            &addr,
            "--demo",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let started = Instant::now();
    loop {
        if get(port, "/v2/").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "registry did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The registry's data is where --root said, not under the store root.
    assert!(
        std::fs::read_dir(&reg_root).unwrap().next().is_some(),
        "registry root is empty"
    );
    assert!(!env.root().join("registry").exists());
    let catalog = get(port, "/v2/_catalog").unwrap();
    assert!(catalog.contains("welcome-to-strata"), "{catalog}");

    let other = Env::new();
    let image = format!("{addr}/welcome-to-strata:latest");
    other.ok(&["pull", "-q", &image]);
    let ls = other.ok(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(ls, format!("{addr}/welcome-to-strata:latest\n"));
}
