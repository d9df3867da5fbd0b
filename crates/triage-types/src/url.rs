//! Connection URLs as they may be shown: in errors, banners and `config check`.

/// `url` with the password of its `user:password@` part replaced by `***`; unchanged when it
/// has none.
pub fn redact_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_hidden() {
        let cases = [
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("redis://:secret@h:1/0", "redis://:***@h:1/0"),
            ("postgres://user:pw@h/db", "postgres://user:***@h/db"),
            ("postgres://user@h/db", "postgres://user@h/db"),
            ("ledger.sqlite3", "ledger.sqlite3"),
        ];
        for (url, shown) in cases {
            assert_eq!(super::redact_password(url), shown);
        }
    }
}
