//! The JSON shapes of connections: as the ZIS API shows them (secrets redacted as `"*****"`) and
//! as the admin API shows them (true secrets, plus integration and type).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::store::{Connection, ConnectionType, Secret};

/// What every secret reads as in API answers.
pub const REDACTED: &str = "*****";

/// RFC 3339 UTC with fractional seconds, e.g. `2026-11-29T21:05:56.123456Z`.
pub fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The fields of one connection; secrets are redacted unless `reveal`.
pub fn connection_fields(name: &str, connection: &Connection, reveal: bool) -> Map<String, Value> {
    let secret = |value: &str| Value::String(if reveal { value } else { REDACTED }.to_owned());
    let mut fields = Map::new();
    fields.insert(
        "allowed_domain".into(),
        Value::String(connection.allowed_domain.clone()),
    );
    fields.insert(
        "created_at".into(),
        Value::String(timestamp(&connection.created_at)),
    );
    fields.insert("name".into(), Value::String(name.to_owned()));
    fields.insert(
        "updated_at".into(),
        Value::String(timestamp(&connection.updated_at)),
    );
    match &connection.secret {
        Secret::BearerToken { token } => {
            fields.insert("token".into(), secret(token));
        }
        Secret::ApiKey {
            api_key,
            header_name,
        } => {
            fields.insert("api_key".into(), secret(api_key));
            fields.insert("header_name".into(), Value::String(header_name.clone()));
        }
        Secret::BasicAuth { username, password } => {
            fields.insert("password".into(), secret(password));
            fields.insert("username".into(), Value::String(username.clone()));
        }
    }
    fields
}

/// `{"bearer_token": {...}}` (or `api_key`, `basic_auth`): a show or create answer.
pub fn wrapped(name: &str, connection: &Connection) -> Value {
    let kind: ConnectionType = connection.secret.connection_type();
    let mut body = Map::new();
    body.insert(
        kind.as_str().into(),
        Value::Object(connection_fields(name, connection, false)),
    );
    Value::Object(body)
}

/// One entry of `GET /_fake/connections`.
pub fn admin_entry(integration: &str, name: &str, connection: &Connection) -> Value {
    let mut fields = connection_fields(name, connection, true);
    fields.insert("integration".into(), Value::String(integration.to_owned()));
    fields.insert(
        "type".into(),
        Value::String(connection.secret.connection_type().as_str().to_owned()),
    );
    Value::Object(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn api_views_redact_secrets_and_admin_views_show_them() {
        let mut connection = Connection::new(
            Secret::BasicAuth {
                username: "user".into(),
                password: "pw".into(),
            },
            "api.example.com".into(),
        );
        connection.created_at = DateTime::from_timestamp_micros(482_196_050_520_000).unwrap();
        connection.updated_at = connection.created_at;
        assert_eq!(
            wrapped("conn", &connection),
            json!({"basic_auth": {
                "allowed_domain": "api.example.com",
                "created_at": "1985-04-12T23:20:50.520000Z",
                "name": "conn",
                "password": "*****",
                "updated_at": "1985-04-12T23:20:50.520000Z",
                "username": "user"
            }})
        );
        let admin = admin_entry("i", "conn", &connection);
        assert_eq!(admin["password"], "pw");
        assert_eq!(admin["type"], "basic_auth");
        assert_eq!(admin["integration"], "i");
    }
}
