//! `agent-hostile`: a test agent that really attacks its container, so the relayer's tests can
//! prove each attack is contained (`docs/ARCHITECTURE.md`, "The agent container contract").
//! Never register it outside tests.
//!
//! The behaviour comes from the first argument (each hostile image bakes one in, e.g.
//! `ENTRYPOINT ["/agent", "fork-bomb"]`) or else from the envelope's `input.behaviour`, so one
//! image can also serve every case. The stdin envelope is always read first, as a real agent
//! would, so the relayer's write never blocks.
//!
//! Resource attacks never end on their own; the relayer's limits must end them:
//! `fork-bomb`, `memory-hog`, `infinite-loop`, `stdout-flood` (a 100 MiB JSON document, then exit
//! 0), `stderr-flood`.
//!
//! Escape attempts (`network`, `write-root`, `privilege`) try several ways out and print a JSON
//! report of every attempt. They exit 1 when everything was refused (contained: the request must
//! settle as a failure) and 0 when any attempt succeeded, so a containment test that expects a
//! failed request also catches an escape.
//!
//! `egress` (module [`egress`]) attacks the relayer's egress proxy through its socket and
//! reports every answer (exit 0 with the report: the relayer test checks each answer and the
//! system log lines).
//!
//! Helpers for the relayer's other tests: `echo` (returns the input at once), `fail` (exit 3),
//! `sleep` (`input.seconds`, default 3600, then exit 0), `invalid-json` (exit 0 with output that
//! is not JSON).

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

mod egress;

use serde::Serialize;
use serde_json::{Value, json};

const STDOUT_FLOOD_BYTES: usize = 100 * 1024 * 1024;

fn log(message: impl std::fmt::Display) {
    agent_io::log("hostile", message);
}

fn main() -> ExitCode {
    let input = agent_io::read_envelope_bytes(io::stdin().lock())
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|envelope| envelope.get("input").cloned())
        .unwrap_or(Value::Null);
    let behaviour = std::env::args()
        .nth(1)
        .or_else(|| input.get("behaviour").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    log(format_args!("behaviour {behaviour:?}"));
    match behaviour.as_str() {
        "fork-bomb" => fork_bomb(),
        "memory-hog" => memory_hog(),
        "infinite-loop" => infinite_loop(),
        "stdout-flood" => stdout_flood(),
        "stderr-flood" => stderr_flood(),
        "network" => report("network", network()),
        "write-root" => report("write-root", write_root()),
        "privilege" => report("privilege", privilege()),
        "echo" => emit(&input),
        "egress" => emit(&egress::attacks(&input)),
        "fail" => {
            log("failing on purpose");
            ExitCode::from(3)
        }
        "sleep" => {
            let seconds = input.get("seconds").and_then(Value::as_u64).unwrap_or(3600);
            std::thread::sleep(Duration::from_secs(seconds));
            emit(&json!({ "slept": seconds }))
        }
        "invalid-json" => {
            print!("this is not JSON");
            ExitCode::SUCCESS
        }
        other => {
            log(format_args!("unknown behaviour {other:?}"));
            ExitCode::from(agent_io::EXIT_BAD_INPUT)
        }
    }
}

fn emit(value: &impl Serialize) -> ExitCode {
    let mut out = io::stdout().lock();
    match serde_json::to_writer(&mut out, value).map_err(io::Error::from).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log(format_args!("cannot write stdout: {e}"));
            ExitCode::FAILURE
        }
    }
}

fn fork_bomb() -> ExitCode {
    log("forking without end");
    let mut failures: u64 = 0;
    loop {
        // SAFETY: fork in a single-threaded process; parent and child both just keep looping.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            failures += 1;
            if failures.is_power_of_two() {
                log(format_args!("fork refused {failures} times: {}", io::Error::last_os_error()));
            }
        }
    }
}

fn memory_hog() -> ExitCode {
    const CHUNK: usize = 64 * 1024 * 1024;
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // vec![1; n] writes every byte, so every page is really resident.
        hoard.push(vec![1u8; CHUNK]);
        log(format_args!("holding {} MiB", hoard.len() * CHUNK / (1024 * 1024)));
    }
}

fn infinite_loop() -> ExitCode {
    log("spinning");
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

fn stdout_flood() -> ExitCode {
    log(format_args!("writing {STDOUT_FLOOD_BYTES} bytes to stdout"));
    let mut out = io::stdout().lock();
    let chunk = vec![b'A'; 1024 * 1024];
    let mut result = out.write_all(b"{\"junk\":\"");
    for _ in 0..STDOUT_FLOOD_BYTES / chunk.len() {
        result = result.and_then(|()| out.write_all(&chunk));
    }
    match result.and_then(|()| out.write_all(b"\"}")).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log(format_args!("stdout closed: {e}"));
            ExitCode::FAILURE
        }
    }
}

fn stderr_flood() -> ExitCode {
    let mut err = io::stderr().lock();
    let mut line: u64 = 0;
    loop {
        line += 1;
        if writeln!(err, "hostile: stderr flood line {line} {}", "x".repeat(100)).is_err() {
            // stderr closed: keep the process alive so only the relayer's limits end it.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// One escape attempt and how it went.
#[derive(Debug, Serialize)]
struct Attempt {
    what: String,
    succeeded: bool,
    detail: String,
}

impl Attempt {
    fn new(what: impl Into<String>, result: Result<String, String>) -> Self {
        let (succeeded, detail) = match result {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        Attempt { what: what.into(), succeeded, detail }
    }
}

fn report(behaviour: &str, attempts: Vec<Attempt>) -> ExitCode {
    let escaped = attempts.iter().any(|a| a.succeeded);
    for a in &attempts {
        log(format_args!("{}: {} ({})", a.what, if a.succeeded { "SUCCEEDED" } else { "refused" }, a.detail));
    }
    let code = emit(&json!({ "behaviour": behaviour, "escaped": escaped, "attempts": attempts }));
    if code != ExitCode::SUCCESS {
        return code;
    }
    if escaped { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn network() -> Vec<Attempt> {
    let mut attempts = Vec::new();
    // Public DNS and HTTP, and Docker's default bridge gateway (the host).
    for addr in ["1.1.1.1:53", "8.8.8.8:53", "93.184.216.34:80", "172.17.0.1:2375", "172.17.0.1:22"] {
        let result = addr
            .parse::<SocketAddr>()
            .map_err(|e| e.to_string())
            .and_then(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).map_err(|e| e.to_string()))
            .map(|s| format!("connected from {:?}", s.local_addr().ok()));
        attempts.push(Attempt::new(format!("tcp connect {addr}"), result));
    }
    let udp = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.send_to(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01", "8.8.8.8:53"))
        .map(|n| format!("sent {n} bytes"))
        .map_err(|e| e.to_string());
    attempts.push(Attempt::new("udp send 8.8.8.8:53", udp));
    let interfaces = std::fs::read_to_string("/proc/net/dev")
        .map(|s| s.lines().skip(2).filter_map(|l| l.split(':').next()).map(str::trim).collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    attempts.push(Attempt::new(
        "network interface besides lo",
        if interfaces.split(',').any(|i| !i.is_empty() && i != "lo") {
            Ok(format!("interfaces: {interfaces}"))
        } else {
            Err(format!("interfaces: {interfaces}"))
        },
    ));
    attempts
}

fn write_root() -> Vec<Attempt> {
    let mut attempts = Vec::new();
    for path in ["/pwned", "/agent.bak", "/etc/pwned"] {
        let result = std::fs::write(path, b"pwned").map(|()| format!("wrote {path}")).map_err(|e| e.to_string());
        attempts.push(Attempt::new(format!("write {path}"), result));
    }
    let result =
        std::fs::create_dir("/pwned-dir").map(|()| "created /pwned-dir".to_string()).map_err(|e| e.to_string());
    attempts.push(Attempt::new("mkdir /pwned-dir", result));
    let result = std::fs::OpenOptions::new()
        .append(true)
        .open("/agent")
        .map(|_| "opened /agent for writing".to_string())
        .map_err(|e| e.to_string());
    attempts.push(Attempt::new("open /agent for writing", result));
    attempts
}

fn privilege() -> Vec<Attempt> {
    let mut attempts = Vec::new();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string()).unwrap_or_else(|| "?".into())
    };
    let cap_eff = field("CapEff:");
    let uid = field("Uid:");
    log(format_args!(
        "Uid {uid}, Gid {}, CapEff {cap_eff}, CapBnd {}, NoNewPrivs {}, Seccomp {}",
        field("Gid:"),
        field("CapBnd:"),
        field("NoNewPrivs:"),
        field("Seccomp:")
    ));
    let has_caps = u64::from_str_radix(&cap_eff, 16).is_ok_and(|c| c != 0);
    attempts.push(Attempt::new(
        "effective capabilities",
        if has_caps { Ok(format!("CapEff {cap_eff}")) } else { Err(format!("CapEff {cap_eff}")) },
    ));
    // SAFETY: plain syscalls without pointers.
    let running_as_root = unsafe { libc::geteuid() } == 0;
    attempts.push(Attempt::new(
        "running as root",
        if running_as_root { Ok(format!("Uid {uid}")) } else { Err(format!("Uid {uid}")) },
    ));
    // `docker run --user 65534` without a group runs with gid 0 (a scratch image has no
    // /etc/passwd to look one up): setgid(0) then "succeeds" because the process already is in
    // the root group. The relayer must set the group too (65534:65534).
    // SAFETY: plain syscalls without pointers.
    let setuid = unsafe { libc::setuid(0) };
    attempts.push(Attempt::new("setuid(0)", syscall_result(setuid)));
    // SAFETY: as above.
    let setgid = unsafe { libc::setgid(0) };
    attempts.push(Attempt::new("setgid(0)", syscall_result(setgid)));
    // A user namespace would hand out a full capability set inside it.
    // SAFETY: as above.
    let unshare = unsafe { libc::unshare(libc::CLONE_NEWUSER) };
    attempts.push(Attempt::new("unshare(CLONE_NEWUSER)", syscall_result(unshare)));
    // SAFETY: as above; the path is a valid NUL-terminated string.
    let chroot = unsafe { libc::chroot(c"/".as_ptr()) };
    attempts.push(Attempt::new("chroot(/)", syscall_result(chroot)));
    attempts
}

fn syscall_result(rc: libc::c_int) -> Result<String, String> {
    if rc == 0 { Ok("returned 0".into()) } else { Err(io::Error::last_os_error().to_string()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_reports_exit_1_when_contained_and_0_on_escape() {
        let refused = vec![Attempt::new("x", Err("EPERM".into()))];
        assert_eq!(report("t", refused), ExitCode::FAILURE);
        let escaped = vec![Attempt::new("x", Err("EPERM".into())), Attempt::new("y", Ok("done".into()))];
        assert_eq!(report("t", escaped), ExitCode::SUCCESS);
    }
}
