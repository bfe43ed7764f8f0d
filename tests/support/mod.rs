//! What the end-to-end tests share: running the `neuropos` binary and reading its verdict.
#![allow(dead_code)] // each test file uses the part it needs

use std::ffi::OsStr;
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_neuropos");

/// `neuropos ARGS`, logging warnings only and without backtraces (so messages compare).
pub fn command<S: AsRef<OsStr>>(args: &[S]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "0");
    c
}

pub fn neuropos<S: AsRef<OsStr>>(args: &[S]) -> Output {
    command(args).output().expect("the neuropos binary runs")
}

fn shown<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The output of a command that must succeed: stdout, then (`with_log`) stderr's log lines.
fn succeeded<S: AsRef<OsStr>>(args: &[S]) -> Output {
    let out = neuropos(args);
    assert!(
        out.status.success(),
        "neuropos {} failed:\n{}",
        shown(args),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// stdout of a command that must succeed.
pub fn ok<S: AsRef<OsStr>>(args: &[S]) -> String {
    String::from_utf8_lossy(&succeeded(args).stdout).into_owned()
}

/// stderr and stdout of a command that must succeed (progress lines go to stderr).
pub fn ok_with_log<S: AsRef<OsStr>>(args: &[S]) -> String {
    let out = succeeded(args);
    String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
}

/// stderr of a command that must fail, and fail without a panic.
pub fn failure<S: AsRef<OsStr>>(args: &[S]) -> String {
    let out = neuropos(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "neuropos {} should fail",
        shown(args)
    );
    assert!(
        !stderr.contains("panicked"),
        "neuropos {} panicked:\n{stderr}",
        shown(args)
    );
    stderr
}

/// A safetensors file's tensors (name → bytes), without the metadata (which records how the
/// run was started, so two routes to the same weights differ there).
pub fn tensors(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<(String, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect();
    out.sort();
    out
}
