//! The JSON shapes exchanged with ZIS, kept apart from the public types so the public surface
//! does not change when the wire format is read more tolerantly.

use serde::{Deserialize, Serialize};

use super::{
    BearerConnection, BearerPage, BearerTokenUpdate, ConnectionList, ConnectionSummary, ZisError,
};

/// `POST bearer_token` body. Borrowed so the token is exposed only while serialising.
#[derive(Serialize)]
pub(crate) struct CreateBody<'a> {
    pub name: &'a str,
    pub token: &'a str,
    pub allowed_domain: &'a str,
}

/// `PATCH bearer_token/{name}` body: absent fields are left unchanged by ZIS.
#[derive(Serialize)]
pub(crate) struct UpdateBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_domain: Option<&'a str>,
}

impl<'a> From<&'a BearerTokenUpdate> for UpdateBody<'a> {
    fn from(update: &'a BearerTokenUpdate) -> Self {
        Self {
            token: update.token.as_ref().map(|t| t.expose()),
            allowed_domain: update.allowed_domain.as_deref(),
        }
    }
}

/// `{"bearer_token":{...}}` as answered by create and show. The redacted `token` is ignored.
#[derive(Deserialize)]
pub(crate) struct BearerEnvelope {
    bearer_token: BearerBody,
}

#[derive(Deserialize)]
struct BearerBody {
    name: String,
    allowed_domain: String,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
}

impl From<BearerEnvelope> for BearerConnection {
    fn from(envelope: BearerEnvelope) -> Self {
        let body = envelope.bearer_token;
        Self {
            name: body.name,
            allowed_domain: body.allowed_domain,
            created_at: body.created_at.unwrap_or_default(),
            updated_at: body.updated_at.unwrap_or_default(),
        }
    }
}

/// One page of `GET all`: every member holding an array is a connection type; `meta` carries
/// the cursor. Read as a map so types ZIS adds later are listed rather than rejected.
#[derive(Deserialize)]
pub(crate) struct ListPage(serde_json::Map<String, serde_json::Value>);

impl ListPage {
    /// Adds this page's connections to `list`, and returns the cursor of the next page, if any.
    pub(crate) fn drain_into(self, list: &mut ConnectionList) -> Result<Option<String>, ZisError> {
        let mut next = None;
        for (key, value) in self.0 {
            match (key.as_str(), value) {
                ("meta", serde_json::Value::Object(meta)) => next = next_cursor(&meta)?,
                (_, serde_json::Value::Array(items)) => {
                    list.connections
                        .extend(items.into_iter().filter_map(|item| summary(&key, &item)));
                }
                // Unknown scalars (or `links`, counts...) carry no connections.
                _ => {}
            }
        }
        Ok(next)
    }
}

impl ListPage {
    /// This page's bearer-token connections and the cursor of the next page. Other types are
    /// skipped, and so are entries without a name; tokens are never read.
    pub(crate) fn into_bearer_page(self) -> Result<BearerPage, ZisError> {
        let mut page = BearerPage::default();
        for (key, value) in self.0 {
            match (key.as_str(), value) {
                ("meta", serde_json::Value::Object(meta)) => page.next_cursor = next_cursor(&meta)?,
                ("bearer_token", serde_json::Value::Array(items)) => {
                    page.connections
                        .extend(items.iter().filter_map(bearer_connection));
                }
                _ => {}
            }
        }
        Ok(page)
    }
}

/// A listed bearer-token connection: its name, domain and times, nothing else.
fn bearer_connection(item: &serde_json::Value) -> Option<BearerConnection> {
    let text = |key: &str| {
        item.get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    Some(BearerConnection {
        name: text("name")?,
        allowed_domain: text("allowed_domain").unwrap_or_default(),
        created_at: text("created_at").unwrap_or_default(),
        updated_at: text("updated_at").unwrap_or_default(),
    })
}

fn summary(kind: &str, item: &serde_json::Value) -> Option<ConnectionSummary> {
    let name = item.get("name")?.as_str()?.to_owned();
    Some(ConnectionSummary {
        kind: kind.to_owned(),
        name,
        allowed_domain: item
            .get("allowed_domain")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
    })
}

/// The `after` cursor when `has_more` is true. Zendesk's other cursor APIs call it
/// `after_cursor`, so both spellings are read.
fn next_cursor(
    meta: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<String>, ZisError> {
    let has_more = meta
        .get("has_more")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    if !has_more {
        return Ok(None);
    }
    let cursor = ["after", "after_cursor"]
        .iter()
        .find_map(|key| meta.get(*key).and_then(serde_json::Value::as_str))
        .filter(|cursor| !cursor.is_empty());
    match cursor {
        Some(cursor) => Ok(Some(cursor.to_owned())),
        None => Err(ZisError::Transient {
            reason: "zis listed more connections but gave no cursor for the next page".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretString;

    fn page(json: &str) -> ListPage {
        serde_json::from_str(json).expect("valid page")
    }

    #[test]
    fn create_bodies_carry_all_three_fields() {
        let body = CreateBody {
            name: "n",
            token: "t",
            allowed_domain: "api.example.com",
        };
        assert_eq!(
            serde_json::to_value(&body).expect("serialises"),
            serde_json::json!({"name":"n","token":"t","allowed_domain":"api.example.com"})
        );
    }

    #[test]
    fn update_bodies_carry_only_the_fields_that_change() {
        let token_only = BearerTokenUpdate {
            token: Some(SecretString::new("t")),
            allowed_domain: None,
        };
        assert_eq!(
            serde_json::to_value(UpdateBody::from(&token_only)).expect("serialises"),
            serde_json::json!({"token":"t"})
        );
        let domain_only = BearerTokenUpdate {
            token: None,
            allowed_domain: Some("a.example.com".to_owned()),
        };
        assert_eq!(
            serde_json::to_value(UpdateBody::from(&domain_only)).expect("serialises"),
            serde_json::json!({"allowed_domain":"a.example.com"})
        );
    }

    #[test]
    fn the_documented_show_body_is_read_and_the_redacted_token_ignored() {
        let envelope: BearerEnvelope = serde_json::from_str(
            r#"{"bearer_token":{"allowed_domain":"api.example.com","created_at":"1985-04-12T23:20:50.52Z","name":"my_conn","token":"*****","updated_at":"1985-04-12T23:20:51.52Z"}}"#,
        )
        .expect("valid");
        assert_eq!(
            BearerConnection::from(envelope),
            BearerConnection {
                name: "my_conn".to_owned(),
                allowed_domain: "api.example.com".to_owned(),
                created_at: "1985-04-12T23:20:50.52Z".to_owned(),
                updated_at: "1985-04-12T23:20:51.52Z".to_owned(),
            }
        );
    }

    #[test]
    fn a_list_page_yields_every_type_and_the_next_cursor() {
        let mut list = ConnectionList::default();
        let next = page(
            r#"{"api_key":[{"name":"k","allowed_domain":"a.example.com","api_key":"*****"}],
                "basic_auth":[],"bearer_token":[{"name":"b","allowed_domain":"b.example.com"}],
                "oauth":[{"name":"zendesk"}],"custom":[{"name":"c"},{"nameless":true},7],
                "meta":{"has_more":true,"after":"abc","before":null}}"#,
        )
        .drain_into(&mut list)
        .expect("valid");
        assert_eq!(next.as_deref(), Some("abc"));
        let mut kinds: Vec<_> = list
            .connections
            .iter()
            .map(|c| {
                (
                    c.kind.as_str(),
                    c.name.as_str(),
                    c.allowed_domain.as_deref(),
                )
            })
            .collect();
        kinds.sort();
        assert_eq!(
            kinds,
            vec![
                ("api_key", "k", Some("a.example.com")),
                ("bearer_token", "b", Some("b.example.com")),
                ("custom", "c", None),
                ("oauth", "zendesk", None),
            ]
        );
    }

    #[test]
    fn a_page_without_meta_or_groups_is_the_last_page() {
        let mut list = ConnectionList::default();
        assert_eq!(page("{}").drain_into(&mut list), Ok(None));
        assert_eq!(
            page(r#"{"meta":{"has_more":false,"after":"x"}}"#).drain_into(&mut list),
            Ok(None)
        );
        assert_eq!(
            page(r#"{"meta":{"has_more":true,"after_cursor":"y"}}"#).drain_into(&mut list),
            Ok(Some("y".to_owned()))
        );
        assert!(list.connections.is_empty());
    }

    #[test]
    fn a_bearer_page_keeps_names_domains_and_times_but_no_token() {
        let bearer = page(
            r#"{"api_key":[{"name":"k","allowed_domain":"a.example.com","api_key":"*****"}],
                "bearer_token":[
                  {"name":"b1","allowed_domain":"b.example.com","token":"leaked-token-4711",
                   "created_at":"1985-04-12T23:20:50.52Z","updated_at":"1985-04-12T23:20:51.52Z"},
                  {"name":"b2","token":"*****"},{"nameless":true},7],
                "meta":{"has_more":true,"after":"6232","before":"6231"}}"#,
        )
        .into_bearer_page()
        .expect("valid");
        assert_eq!(
            bearer,
            BearerPage {
                connections: vec![
                    BearerConnection {
                        name: "b1".to_owned(),
                        allowed_domain: "b.example.com".to_owned(),
                        created_at: "1985-04-12T23:20:50.52Z".to_owned(),
                        updated_at: "1985-04-12T23:20:51.52Z".to_owned(),
                    },
                    BearerConnection {
                        name: "b2".to_owned(),
                        allowed_domain: String::new(),
                        created_at: String::new(),
                        updated_at: String::new(),
                    },
                ],
                next_cursor: Some("6232".to_owned()),
            }
        );
        assert!(!format!("{bearer:?}").contains("leaked-token-4711"));
        let last = page(r#"{"bearer_token":[],"meta":{"has_more":false,"after":"x"}}"#)
            .into_bearer_page()
            .expect("valid");
        assert_eq!(last, BearerPage::default());
        assert!(matches!(
            page(r#"{"meta":{"has_more":true}}"#).into_bearer_page(),
            Err(ZisError::Transient { .. })
        ));
    }

    #[test]
    fn more_pages_without_a_cursor_is_transient() {
        let mut list = ConnectionList::default();
        assert!(matches!(
            page(r#"{"meta":{"has_more":true,"after":null}}"#).drain_into(&mut list),
            Err(ZisError::Transient { .. })
        ));
    }
}
