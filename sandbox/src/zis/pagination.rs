//! Cursor pagination of `GET .../connections/all`: `page[size]` (1 to 100, default 100),
//! `page[after]` and `page[before]` taking the opaque cursors of a previous answer's `meta`.
//!
//! A cursor is the hex encoding of a connection name: opaque to clients, and a direct key into
//! the store's name-ordered map, so that every page costs `O(log n + size)`.

use hyper::StatusCode;

use super::response::ApiError;
use super::store::PageStart;

/// The largest (and default) page size.
pub const MAX_PAGE_SIZE: usize = 100;

/// A parsed page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub start: PageStart,
    pub size: usize,
}

fn invalid_size() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "InvalidPageSize",
        format!("page[size] must be an integer from 1 to {MAX_PAGE_SIZE}"),
    )
}

fn invalid_cursor(title: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "InvalidCursor", title)
}

/// Parses the query string (percent-encoded brackets accepted, unknown parameters ignored).
pub fn parse_query(query: Option<&str>) -> Result<PageRequest, ApiError> {
    let mut size = MAX_PAGE_SIZE;
    let mut after = None;
    let mut before = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "page[size]" => {
                size = value.parse().map_err(|_| invalid_size())?;
                if !(1..=MAX_PAGE_SIZE).contains(&size) {
                    return Err(invalid_size());
                }
            }
            "page[after]" if !value.is_empty() => after = Some(decode_cursor(&value)?),
            "page[before]" if !value.is_empty() => before = Some(decode_cursor(&value)?),
            _ => {}
        }
    }
    let start = match (after, before) {
        (Some(_), Some(_)) => {
            return Err(invalid_cursor(
                "Give only one of page[after] and page[before]",
            ));
        }
        (Some(after), None) => PageStart::After(after),
        (None, Some(before)) => PageStart::Before(before),
        (None, None) => PageStart::First,
    };
    Ok(PageRequest { start, size })
}

/// The cursor of a connection name.
pub fn encode_cursor(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    let bad = || invalid_cursor("Cursor is not valid");
    if !cursor.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| {
            cursor
                .get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(bad)
        })
        .collect::<Result<Vec<u8>, _>>()?;
    String::from_utf8(bytes).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_names() {
        let cursor = encode_cursor("my_conn-1");
        assert_eq!(decode_cursor(&cursor).unwrap(), "my_conn-1");
        assert!(decode_cursor("zz").is_err());
        assert!(decode_cursor("abc").is_err());
    }

    #[test]
    fn page_parameters_are_parsed_with_or_without_percent_encoding() {
        let cursor = encode_cursor("abc");
        assert_eq!(
            parse_query(Some(&format!("page%5Bsize%5D=10&page%5Bafter%5D={cursor}"))).unwrap(),
            PageRequest {
                start: PageStart::After("abc".into()),
                size: 10
            }
        );
        assert_eq!(
            parse_query(Some(&format!("page[before]={cursor}"))).unwrap(),
            PageRequest {
                start: PageStart::Before("abc".into()),
                size: MAX_PAGE_SIZE
            }
        );
        assert_eq!(parse_query(None).unwrap().start, PageStart::First);
    }

    #[test]
    fn page_sizes_above_100_or_below_1_are_refused() {
        for query in ["page[size]=101", "page[size]=0", "page[size]=ten"] {
            assert_eq!(
                parse_query(Some(query)).map_err(|e| e.code),
                Err("InvalidPageSize"),
                "{query}"
            );
        }
        assert_eq!(
            parse_query(Some("page[after]=6162&page[before]=6162")).map_err(|e| e.code),
            Err("InvalidCursor")
        );
    }
}
