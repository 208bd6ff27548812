//! Replays the vendor reference page's cURL samples (`shared/seeds/000_a6625add5c37217d.txt`)
//! with the real `curl` against the `zis-sandbox zis` binary, and checks the documented statuses
//! and bodies, including every documented error code.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

const TOKEN: &str = "reference-page-access-token";
const READ_ONLY: &str = "reference-page-read-only-token";

/// The running binary; killed with SIGTERM when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_zis-sandbox"))
            .args(["zis", "--listen", "127.0.0.1:0"])
            .args(["--integration", "my_integration", "--access-token", TOKEN])
            .args([
                "--scoped-token",
                &format!("my_integration:read={READ_ONLY}"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("zis-sandbox starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .expect("ready line");
        let url = line
            .trim()
            .strip_prefix("zis fake listening on ")
            .expect("ready line format")
            .to_owned();
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Runs a cURL sample from the page: `https://{subdomain}.zendesk.com` becomes the server, the
/// placeholders are filled in. Returns status, headers and body.
fn curl(server: &Server, sample: &[&str], access_token: &str) -> (u16, String, String) {
    let args: Vec<String> = sample
        .iter()
        .map(|arg| {
            arg.replace("https://{subdomain}.zendesk.com", &server.url)
                .replace("{integration}", "my_integration")
                .replace("{name}", "my_bearer_token_connection")
                .replace("{access_token}", access_token)
        })
        .collect();
    let output = Command::new("/usr/bin/curl")
        .args(["--silent", "--show-error", "--include"])
        .args(&args)
        .output()
        .expect("curl runs");
    assert!(output.status.success(), "curl failed: {output:?}");
    let text = String::from_utf8(output.stdout).expect("utf-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("headers and body");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    (status, head.to_ascii_lowercase(), body.to_owned())
}

const CREATE: &[&str] = &[
    "https://{subdomain}.zendesk.com/api/services/zis/integrations/{integration}/connections/bearer_token",
    "-H",
    "Authorization: Bearer {access_token}",
    "-X",
    "POST",
    "-H",
    "content-type: application/json",
    "-d",
    r#"{  "name": "my_bearer_token_connection",  "token": "MY_BEARER_TOKEN",  "allowed_domain": "api.example.com"  }"#,
];
const SHOW: &[&str] = &[
    "https://{subdomain}.zendesk.com/api/services/zis/integrations/{integration}/connections/bearer_token/{name}",
    "-H",
    "Authorization: Bearer {access_token}",
];
const UPDATE: &[&str] = &[
    "https://{subdomain}.zendesk.com/api/services/zis/integrations/{integration}/connections/bearer_token/{name}",
    "-H",
    "Authorization: Bearer {access_token}",
    "-X",
    "PATCH",
    "-H",
    "content-type: application/json",
    "-d",
    r#"{  "token": "MY_BEARER_TOKEN"  }"#,
];
const DELETE: &[&str] = &[
    "https://{subdomain}.zendesk.com/api/services/zis/integrations/{integration}/connections/bearer_token/{name}",
    "-H",
    "Authorization: Bearer {access_token}",
    "-X",
    "DELETE",
];

/// The page's 201/200 body, with the server's own timestamps (checked for their format).
fn expected_connection(actual: &Value) -> Value {
    let timestamp = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$").unwrap();
    let created = actual["bearer_token"]["created_at"].as_str().unwrap_or("");
    let updated = actual["bearer_token"]["updated_at"].as_str().unwrap_or("");
    assert!(timestamp.is_match(created), "created_at {created:?}");
    assert!(timestamp.is_match(updated), "updated_at {updated:?}");
    json!({"bearer_token": {
        "allowed_domain": "api.example.com",
        "created_at": created,
        "name": "my_bearer_token_connection",
        "token": "*****",
        "updated_at": updated
    }})
}

fn error(code: &str, title: &str) -> Value {
    json!({"errors": [{"code": code, "title": title}]})
}

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON body: {body:?}"))
}

#[test]
fn the_reference_page_samples_get_the_documented_answers() {
    let server = Server::start();

    let (status, headers, body) = curl(&server, CREATE, TOKEN);
    assert_eq!(status, 201, "{body}");
    assert!(headers.contains("content-type: application/json"));
    let created = parse(&body);
    assert_eq!(created, expected_connection(&created));

    let (status, _, body) = curl(&server, SHOW, TOKEN);
    assert_eq!(status, 200);
    let shown = parse(&body);
    assert_eq!(shown, created);

    let (status, _, body) = curl(&server, UPDATE, TOKEN);
    assert_eq!((status, body.as_str()), (204, ""));
    let (_, _, body) = curl(&server, SHOW, TOKEN);
    let updated = parse(&body);
    assert_eq!(updated, expected_connection(&updated));
    assert!(
        updated["bearer_token"]["updated_at"].as_str()
            > created["bearer_token"]["updated_at"].as_str(),
        "updated_at moves forward"
    );
    assert_eq!(
        updated["bearer_token"]["created_at"],
        created["bearer_token"]["created_at"]
    );

    let (status, _, body) = curl(&server, DELETE, TOKEN);
    assert_eq!((status, body.as_str()), (204, ""));
    let (status, _, body) = curl(&server, SHOW, TOKEN);
    assert_eq!(status, 404);
    assert_eq!(parse(&body), error("NotFound", "Connection does not exist"));
}

#[test]
fn every_documented_error_code_is_answered_as_the_page_shows_it() {
    let server = Server::start();

    // 409: the name is taken.
    assert_eq!(curl(&server, CREATE, TOKEN).0, 201);
    let (status, _, body) = curl(&server, CREATE, TOKEN);
    assert_eq!(status, 409);
    assert_eq!(parse(&body), error("Conflict", "Resource conflict"));

    // 400: an integration that does not exist, on create and on update.
    for sample in [CREATE, UPDATE] {
        let other: Vec<String> = sample
            .iter()
            .map(|a| a.replace("{integration}", "no_such_integration"))
            .collect();
        let other: Vec<&str> = other.iter().map(String::as_str).collect();
        let (status, _, body) = curl(&server, &other, TOKEN);
        assert_eq!(status, 400);
        assert_eq!(
            parse(&body),
            error("InvalidIntegration", "Specified integration is not valid")
        );
    }

    // 401: no token at all, on every endpoint.
    for sample in [CREATE, SHOW, UPDATE, DELETE] {
        let (status, _, body) = curl(&server, sample, "");
        assert_eq!(status, 401);
        assert_eq!(
            parse(&body),
            error("InvalidCredentials", "Token length is invalid")
        );
    }

    // 403: a token without the write scope, on every write.
    for sample in [CREATE, UPDATE, DELETE] {
        let (status, _, body) = curl(&server, sample, READ_ONLY);
        assert_eq!(status, 403);
        assert_eq!(
            parse(&body),
            error(
                "Forbidden",
                "Cannot access this resource. Missing scope write"
            )
        );
    }
    assert_eq!(curl(&server, SHOW, READ_ONLY).0, 200);

    // 404: update and delete of a connection that does not exist.
    assert_eq!(curl(&server, DELETE, TOKEN).0, 204);
    for sample in [SHOW, UPDATE, DELETE] {
        let (status, _, body) = curl(&server, sample, TOKEN);
        assert_eq!(status, 404);
        assert_eq!(parse(&body), error("NotFound", "Connection does not exist"));
    }

    // 429: past the account's rate limit, with Retry-After.
    let settings = Command::new("/usr/bin/curl")
        .args([
            "--silent",
            "-X",
            "PUT",
            "-d",
            r#"{"rate_limit_per_minute":1}"#,
        ])
        .arg(format!("{}/_fake/settings", server.url))
        .output()
        .expect("curl runs");
    assert!(settings.status.success());
    assert_eq!(curl(&server, SHOW, TOKEN).0, 404);
    let (status, headers, body) = curl(&server, SHOW, TOKEN);
    assert_eq!(status, 429);
    assert_eq!(parse(&body), error("TooManyRequests", "Too many requests"));
    assert!(headers.contains("retry-after: "), "{headers}");
    assert!(headers.contains("x-rate-limit: 1"), "{headers}");
    assert!(headers.contains("x-rate-limit-remaining: 0"), "{headers}");
}
