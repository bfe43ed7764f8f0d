//! `--data hub` goes through candle-datasets' Hugging Face loader, which honours HF_ENDPOINT.
//! No internet here: a throwaway server on 127.0.0.1 records what the loader asks for and
//! answers 404, and the CLI must turn that into a clear error (no panic).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn hub_loader_asks_the_configured_endpoint_and_reports_failure() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let requests = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (seen, stopped) = (requests.clone(), stop.clone());
    let server = std::thread::spawn(move || {
        // Bounded: at most 50 connections or 60 s, then the server stops by itself.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut served = 0;
        while served < 50 && Instant::now() < deadline && !stopped.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(5)))
                        .unwrap();
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    let _ = reader.read_line(&mut line);
                    // Drain the headers before answering.
                    let mut header = String::new();
                    while reader
                        .read_line(&mut header)
                        .map(|n| n > 2)
                        .unwrap_or(false)
                    {
                        header.clear();
                    }
                    seen.lock().unwrap().push(line.trim().to_string());
                    let mut stream = stream;
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    served += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(_) => break,
            }
        }
    });

    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("run");
    let result = Command::new(env!("CARGO_BIN_EXE_neuropos"))
        .args([
            "train", "--model", "mlp", "--hidden", "14", "--epochs", "1", "--data", "hub",
            "--device", "cpu", "--out",
        ])
        .arg(&out)
        .env("HF_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("HF_HOME", home.path())
        .env("HF_HUB_DISABLE_XET", "1")
        .output()
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    server.join().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success(), "a 404 hub cannot give a dataset");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("hub:ylecun/mnist"),
        "error does not say where it looked: {stderr}"
    );
    let asked = requests.lock().unwrap().clone();
    assert!(
        asked.iter().any(|r| r.contains("ylecun/mnist")),
        "the loader never asked the local endpoint for ylecun/mnist: {asked:?}"
    );
}
