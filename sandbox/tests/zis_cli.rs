//! The command-line contract of `zis-sandbox zis`: the exact ready line, exit 0 on SIGTERM and
//! SIGINT, `--help` for every flag, refused command lines, and no secret in the logs.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_zis-sandbox");

fn spawn(args: &[&str]) -> (Child, BufReader<ChildStdout>, String) {
    let mut child = Command::new(BIN)
        .arg("zis")
        .args(args)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zis-sandbox starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("ready line");
    (child, stdout, line)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Waits for the process to exit, at most 10 seconds.
fn wait(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "did not exit after the signal");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_server_prints_one_ready_line_and_exits_0_on_sigterm() {
    let (mut child, mut stdout, line) = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--integration",
        "my_integration",
        "--access-token",
        "tok",
    ]);
    let ready =
        regex::Regex::new(r"^zis fake listening on http://127\.0\.0\.1:[1-9][0-9]*\n$").unwrap();
    assert!(ready.is_match(&line), "{line:?}");
    signal(&child, "TERM");
    assert_eq!(wait(&mut child).code(), Some(0));
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("stdout");
    assert_eq!(rest, "", "exactly one line on stdout");
}

#[test]
fn the_server_exits_0_on_sigint() {
    let (mut child, _stdout, line) = spawn(&["--listen", "127.0.0.1:0"]);
    assert!(line.starts_with("zis fake listening on http://"));
    signal(&child, "INT");
    assert_eq!(wait(&mut child).code(), Some(0));
}

#[test]
fn repeated_integrations_and_tokens_pair_up_in_order_and_tokens_never_reach_the_logs() {
    let (mut child, _stdout, line) = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--integration",
        "first_integration",
        "--integration",
        "second_integration",
        "--access-token",
        "first-secret-token",
        "--access-token",
        "second-secret-token",
    ]);
    let url = line
        .trim()
        .trim_start_matches("zis fake listening on ")
        .to_owned();
    let curl = |integration: &str, token: &str| -> String {
        let output = Command::new("/usr/bin/curl")
            .args([
                "--silent",
                "--output",
                "/dev/null",
                "--write-out",
                "%{http_code}",
            ])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(["-X", "POST", "-d"])
            .arg(
                r#"{"name":"conn","token":"connection-secret","allowed_domain":"api.example.com"}"#,
            )
            .arg(format!(
                "{url}/api/services/zis/integrations/{integration}/connections/bearer_token"
            ))
            .output()
            .expect("curl runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert_eq!(curl("first_integration", "first-secret-token"), "201");
    assert_eq!(curl("second_integration", "second-secret-token"), "201");
    assert_eq!(curl("second_integration", "first-secret-token"), "403");
    assert_eq!(curl("first_integration", "wrong-token"), "401");
    signal(&child, "TERM");
    assert_eq!(wait(&mut child).code(), Some(0));
    let mut logs = String::new();
    child
        .stderr
        .take()
        .expect("stderr is piped")
        .read_to_string(&mut logs)
        .expect("stderr");
    assert!(logs.contains("zis fake ready"), "{logs}");
    assert!(
        logs.contains("zis request"),
        "per-request logs at debug: {logs}"
    );
    for secret in [
        "first-secret-token",
        "second-secret-token",
        "wrong-token",
        "connection-secret",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}

#[test]
fn oauth_clients_and_refresh_tokens_from_flags_serve_the_token_endpoint_without_logging_secrets() {
    let (mut child, _stdout, line) = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--oauth-client",
        "my_integration:zis_my_integration=client-secret-cli",
        "--oauth-refresh-token",
        "zis_my_integration=refresh-secret-cli",
    ]);
    let url = line
        .trim()
        .trim_start_matches("zis fake listening on ")
        .to_owned();
    // Form-encoded, as RFC 6749 and most OAuth libraries send it.
    let output = Command::new("/usr/bin/curl")
        .args(["--silent", "-X", "POST", "-d"])
        .arg(
            "grant_type=refresh_token&client_id=zis_my_integration\
             &client_secret=client-secret-cli&refresh_token=refresh-secret-cli",
        )
        .arg(format!("{url}/oauth/tokens"))
        .output()
        .expect("curl runs");
    let answer: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("a JSON token answer");
    assert_eq!(answer["token_type"], "bearer", "{answer}");
    let access = answer["access_token"].as_str().expect("access token");
    let refresh = answer["refresh_token"].as_str().expect("refresh token");
    signal(&child, "TERM");
    assert_eq!(wait(&mut child).code(), Some(0));
    let mut logs = String::new();
    child
        .stderr
        .take()
        .expect("stderr is piped")
        .read_to_string(&mut logs)
        .expect("stderr");
    assert!(logs.contains("oauth/tokens"), "{logs}");
    for secret in ["client-secret-cli", "refresh-secret-cli", access, refresh] {
        assert!(
            !logs.contains(secret),
            "a token or secret leaked into the logs"
        );
    }
}

#[test]
fn help_documents_every_flag() {
    let output = Command::new(BIN)
        .args(["zis", "--help"])
        .output()
        .expect("runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--listen",
        "--integration",
        "--access-token",
        "--scoped-token",
        "--patch-allowed-domain",
        "--rate-limit-per-minute",
        "--latency-ms",
        "--error-rate",
        "--drop-rate",
        "--oauth-client",
        "--oauth-refresh-token",
        "/oauth/tokens",
        "invalid_grant",
        "/_fake/",
        "zis fake listening on http://HOST:PORT",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn a_command_line_that_cannot_be_served_fails_without_showing_tokens() {
    for args in [
        &["--access-token", "lonely-secret"][..],
        &["--integration", "Not A Key"][..],
        &["--error-rate", "1.5"][..],
        &["--scoped-token", "my_integration:admin=lonely-secret"][..],
        &["--oauth-client", "my_integration=lonely-secret"][..],
        &["--oauth-refresh-token", "zis_nobody=lonely-secret"][..],
        &["--listen", "not-an-address"][..],
    ] {
        let output = Command::new(BIN)
            .arg("zis")
            .args(args)
            .output()
            .expect("runs");
        assert!(!output.status.success(), "{args:?} accepted");
        assert!(output.stdout.is_empty(), "no ready line for {args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.is_empty());
        assert!(!stderr.contains("lonely-secret"), "{stderr}");
    }
}
