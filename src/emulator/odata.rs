//! The OData query syntax the emulator understands: `$filter` (`eq`, `in`), `$select`,
//! `$top`, `$skiptoken`, and percent-decoding of path segments.

/// Properties a user listing may `$select` or `$filter` on.
pub const USER_PROPERTIES: &[&str] = &[
    "id",
    "userPrincipalName",
    "mail",
    "employeeId",
    "displayName",
    "accountEnabled",
    "userType",
];

/// Returned when there is no `$select`, as Graph does: `employeeId`, `accountEnabled` and
/// `userType` only come when asked for.
pub const DEFAULT_SELECT: &[&str] = &["id", "userPrincipalName", "mail", "displayName"];

/// Properties that can be filtered with `eq` / `in` without advanced-query headers.
const FILTERABLE: &[&str] = &["userPrincipalName", "mail", "employeeId", "id"];

/// Graph's longest employeeId.
pub const MAX_EMPLOYEE_ID: usize = 16;

/// A rejected query: Graph's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub code: &'static str,
    pub message: String,
}

impl QueryError {
    fn unsupported(message: String) -> QueryError {
        QueryError {
            code: "Request_UnsupportedQuery",
            message,
        }
    }
    fn bad(message: String) -> QueryError {
        QueryError {
            code: "Request_BadRequest",
            message,
        }
    }
}

/// A parsed `prop eq 'v'` or `prop in ('a','b')`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub property: String,
    pub values: Vec<String>,
}

/// Parses a `$filter`, with `''` for a quote inside a value, and checks the values as
/// Graph does: the whole request fails for one bad value.
pub fn parse_filter(filter: &str) -> Result<Filter, QueryError> {
    let filter = filter.trim();
    let invalid = || QueryError::unsupported(format!("Invalid filter clause: {filter}"));
    let (prop, rest) = filter.split_once(' ').ok_or_else(invalid)?;
    let rest = rest.trim();
    let list = if let Some(v) = rest.strip_prefix("eq ") {
        v.trim()
    } else if let Some(v) = rest.strip_prefix("in ") {
        v.trim()
            .strip_prefix('(')
            .and_then(|v| v.strip_suffix(')'))
            .ok_or_else(invalid)?
    } else {
        return Err(QueryError::unsupported(format!(
            "Unsupported filter operator in: {filter}"
        )));
    };
    if !FILTERABLE.contains(&prop) {
        return Err(QueryError::unsupported(format!(
            "Property '{prop}' does not support filtering here."
        )));
    }
    let values = quoted_values(list);
    if values.len() > 15 {
        return Err(QueryError::unsupported(format!(
            "Too many child clauses specified in search filter expression containing 'OR' operators: {}. Max allowed: 15.",
            values.len()
        )));
    }
    check_values(prop, &values)?;
    Ok(Filter {
        property: prop.to_string(),
        values,
    })
}

/// The quoted strings of `'a', 'o''b'`, unquoted.
fn quoted_values(list: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut chars = list.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut v = String::new();
        loop {
            match chars.next() {
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    v.push('\'');
                }
                Some('\'') | None => break,
                Some(ch) => v.push(ch),
            }
        }
        values.push(v);
    }
    values
}

fn check_values(prop: &str, values: &[String]) -> Result<(), QueryError> {
    for v in values {
        if prop == "id" && uuid::Uuid::parse_str(v).is_err() {
            return Err(QueryError::bad(format!("Invalid object identifier '{v}'.")));
        }
        if prop == "employeeId" && v.chars().count() > MAX_EMPLOYEE_ID {
            return Err(QueryError::bad(format!(
                "Invalid value specified for property 'employeeId' of resource 'User': '{v}' is longer than {MAX_EMPLOYEE_ID} characters."
            )));
        }
    }
    Ok(())
}

/// The properties a `$select` names (or the defaults); unknown ones are a 400 as in Graph.
pub fn parse_select(select: Option<&str>) -> Result<Vec<String>, QueryError> {
    let Some(select) = select else {
        return Ok(DEFAULT_SELECT.iter().map(|p| p.to_string()).collect());
    };
    let mut props = Vec::new();
    for p in select.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let known = USER_PROPERTIES
            .iter()
            .find(|k| k.eq_ignore_ascii_case(p))
            .ok_or_else(|| {
                QueryError::bad(format!(
                    "Could not find a property named '{p}' on type 'microsoft.graph.user'."
                ))
            })?;
        if !props.iter().any(|q: &String| q == known) {
            props.push(known.to_string());
        }
    }
    Ok(props)
}

/// `$top`: 100 by default, at most 999.
pub fn parse_top(top: Option<&str>) -> Result<usize, QueryError> {
    match top {
        None => Ok(100),
        Some(t) => match t.trim().parse::<usize>() {
            Ok(n) if (1..=999).contains(&n) => Ok(n),
            _ => Err(QueryError::bad(format!(
                "Invalid page size specified: '{t}'. Must be between 1 and 999 inclusive."
            ))),
        },
    }
}

/// The offset an opaque `$skiptoken` made by [`skiptoken`] stands for.
pub fn parse_skiptoken(token: &str) -> Result<usize, QueryError> {
    token
        .strip_prefix("emu")
        .and_then(|n| usize::from_str_radix(n, 16).ok())
        .ok_or_else(|| QueryError::bad("Invalid skip token.".into()))
}

/// An opaque-looking `$skiptoken` for a page starting at `offset`.
pub fn skiptoken(offset: usize) -> String {
    format!("emu{offset:x}")
}

/// The query string of `pairs` (without `$skiptoken`) plus `$skiptoken=token`, encoded.
pub fn query_with_skiptoken(pairs: &[(String, String)], token: &str) -> String {
    let mut kept: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(k, _)| k != "$skiptoken")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    kept.push(("$skiptoken", token));
    serde_urlencoded::to_string(&kept).unwrap_or_default()
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eq_and_in_with_quotes() {
        assert_eq!(
            parse_filter("userPrincipalName in ('a@x','o''brien@x')").unwrap(),
            Filter {
                property: "userPrincipalName".into(),
                values: vec!["a@x".into(), "o'brien@x".into()]
            }
        );
        assert_eq!(
            parse_filter(" employeeId eq '10432' ").unwrap().values,
            vec!["10432"]
        );
        assert_eq!(
            parse_filter("mail in ('a,b@x', 'c@x')")
                .unwrap()
                .values
                .len(),
            2
        );
        assert_eq!(parse_filter("mail in ()").unwrap().values.len(), 0);
    }

    #[test]
    fn unsupported_filters() {
        for f in [
            "jobTitle eq 'x'",
            "mail ne 'x'",
            "mail",
            "mail in 'x'",
            "endsWith(mail,'x')",
        ] {
            let e = parse_filter(f).unwrap_err();
            assert_eq!(e.code, "Request_UnsupportedQuery", "{f}");
        }
        let sixteen: Vec<String> = (0..16).map(|i| format!("'u{i}@x'")).collect();
        let e = parse_filter(&format!("mail in ({})", sixteen.join(","))).unwrap_err();
        assert!(e.message.contains("16"), "{e:?}");
    }

    #[test]
    fn one_bad_value_fails_the_whole_filter() {
        let ok = "id in ('5b1f7c7e-1a0a-4c1e-9a51-000000010432')";
        assert!(parse_filter(ok).is_ok());
        let e = parse_filter("id in ('5b1f7c7e-1a0a-4c1e-9a51-000000010432','bob')").unwrap_err();
        assert_eq!(e.code, "Request_BadRequest");
        assert!(e.message.contains("Invalid object identifier 'bob'"));
        assert!(parse_filter("employeeId eq '1234567890123456'").is_ok());
        let e = parse_filter("employeeId in ('1', '12345678901234567')").unwrap_err();
        assert_eq!(e.code, "Request_BadRequest");
    }

    #[test]
    fn select_top_and_paging() {
        assert_eq!(parse_select(None).unwrap(), DEFAULT_SELECT);
        assert_eq!(
            parse_select(Some("id, accountenabled,userType,id")).unwrap(),
            vec!["id", "accountEnabled", "userType"]
        );
        assert_eq!(
            parse_select(Some("id,manager")).unwrap_err().code,
            "Request_BadRequest"
        );
        assert_eq!(parse_top(None).unwrap(), 100);
        assert_eq!(parse_top(Some("999")).unwrap(), 999);
        assert!(parse_top(Some("1000")).is_err());
        assert!(parse_top(Some("0")).is_err());
        assert_eq!(parse_skiptoken(&skiptoken(1998)).unwrap(), 1998);
        assert!(parse_skiptoken("1998").is_err());
        let q = query_with_skiptoken(
            &[
                ("$select".into(), "id,mail".into()),
                ("$skiptoken".into(), "old".into()),
            ],
            "emu3e7",
        );
        assert_eq!(q, "%24select=id%2Cmail&%24skiptoken=emu3e7");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b.com"), "a@b.com");
        assert_eq!(percent_decode("a%4"), "a%4");
        assert_eq!(percent_decode("%E2%80%99"), "\u{2019}");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
