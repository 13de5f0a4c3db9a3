//! Numbers as clients write them in paths, query strings, cursors and
//! entity tags: decimal digits only. Rust's own `parse` takes `+5`, which no
//! client means; `1e3`, `0x10`, `1.5`, `-1` and spaces are refused too.

use std::str::FromStr;

/// `raw` as a `T`, if it is nothing but ASCII digits and fits `T`.
pub fn parse_digits<T: FromStr>(raw: &str) -> Option<T> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_decimal_digits_parse() {
        assert_eq!(parse_digits::<i64>("0"), Some(0));
        assert_eq!(parse_digits::<i64>("42"), Some(42));
        assert_eq!(parse_digits::<i64>("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "",
            "+5",
            "-1",
            " 1",
            "1 ",
            "1.5",
            "1e3",
            "0x10",
            "abc",
            "9223372036854775808",
            "1\u{0}",
        ] {
            assert_eq!(parse_digits::<i64>(bad), None, "{bad:?}");
        }
        assert_eq!(parse_digits::<u16>("65536"), None);
    }
}
