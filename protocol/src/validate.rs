//! Field validation with errors that name the field and say what is wrong.
//!
//! These checks run in the client before signing, in the node's mempool
//! before admission, and again when a block is validated, so a malformed
//! record never reaches the ledger.

/// A field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// Name of the field, as in JSON and CLI flags.
    pub field: &'static str,
    /// What is wrong, for a human.
    pub message: String,
}

impl ValidationError {
    /// Builds an error for `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        ValidationError {
            field,
            message: message.into(),
        }
    }
}

/// Characters allowed in a USCC, in value order (GB 32100-2015 table 1):
/// digits, then capital letters without I, O, S, V and Z.
const USCC_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

fn uscc_value(c: u8) -> Option<u32> {
    USCC_CHARSET.iter().position(|&x| x == c).map(|p| p as u32)
}

/// The check character a 17-character USCC prefix must end with, or `None`
/// if the prefix has a character outside the charset.
pub fn uscc_check_char(prefix17: &str) -> Option<char> {
    let b = prefix17.as_bytes();
    if b.len() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (i, &c) in b.iter().enumerate() {
        sum += uscc_value(c)? * USCC_WEIGHTS[i];
    }
    let check = (31 - sum % 31) % 31;
    Some(USCC_CHARSET[check as usize] as char)
}

/// Checks a Unified Social Credit Code (统一社会信用代码), GB 32100-2015.
pub fn uscc(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.len() != 18 || !value.is_ascii() {
        return Err(ValidationError::new(
            field,
            format!(
                "USCC {:?} must be exactly 18 characters (digits and capital letters), got {}",
                truncate(value),
                value.chars().count()
            ),
        ));
    }
    if let Some((pos, c)) = value
        .bytes()
        .enumerate()
        .find(|(_, c)| uscc_value(*c).is_none())
    {
        return Err(ValidationError::new(
            field,
            format!(
                "USCC {value:?} has {:?} at position {}; allowed are 0-9 and A-Z without I, O, S, V, Z",
                c as char,
                pos + 1
            ),
        ));
    }
    let expected = uscc_check_char(&value[..17]).expect("charset checked");
    let got = value.as_bytes()[17] as char;
    if expected != got {
        return Err(ValidationError::new(
            field,
            format!("USCC {value:?} has check character {got:?}, but GB 32100-2015 gives {expected:?}; is a character mistyped?"),
        ));
    }
    Ok(())
}

/// The canonical form of a USCC as typed by a person: surrounding spaces
/// dropped, letters upper-cased. Clients and the API apply it before
/// validation; the ledger only ever sees canonical codes.
pub fn normalize_uscc(s: &str) -> String {
    s.trim().to_ascii_uppercase()
}

/// The canonical form of an IP id as typed: spaces dropped, and for patent
/// numbers (`zl...`) the prefix and an `x` check digit upper-cased. Other
/// registration ids are kept as given.
pub fn normalize_ip_id(s: &str) -> String {
    let t = s.trim();
    if t.len() > 2 && t[..2].eq_ignore_ascii_case("zl") {
        t.to_ascii_uppercase()
    } else {
        t.to_string()
    }
}

/// The check digit of a patent application number's digits (`X` for 10).
pub fn patent_check_digit(digits: &str) -> Option<char> {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        sum += (c - b'0') as u32 * (2 + (i as u32 % 8));
    }
    match sum % 11 {
        10 => Some('X'),
        d => Some((b'0' + d as u8) as char),
    }
}

/// Checks a Chinese patent number: `ZL` + 12 digits (applications since
/// October 2003: 4-digit year, type digit, 7-digit serial) or 8 digits
/// (older: 2-digit year, type digit, 5-digit serial), then `.` and the
/// check digit.
pub fn patent_number(field: &'static str, value: &str) -> Result<(), ValidationError> {
    let bad = |msg: String| Err(ValidationError::new(field, msg));
    let Some(rest) = value.strip_prefix("ZL") else {
        return bad(format!(
            "patent number {:?} must start with \"ZL\", like ZL201710601862.3",
            truncate(value)
        ));
    };
    let Some((digits, check)) = rest.split_once('.') else {
        return bad(format!(
            "patent number {value:?} needs a '.' before its check digit, like ZL201710601862.3"
        ));
    };
    if !digits.bytes().all(|c| c.is_ascii_digit()) || !(digits.len() == 12 || digits.len() == 8) {
        return bad(format!(
            "patent number {value:?} must have 12 digits (since 2003) or 8 digits (older) after ZL"
        ));
    }
    let type_digit = if digits.len() == 12 {
        let year: u32 = digits[..4].parse().unwrap_or(0);
        if !(2003..=2099).contains(&year) {
            return bad(format!(
                "patent number {value:?}: the 12-digit form starts with an application year from 2003, got {year}"
            ));
        }
        digits.as_bytes()[4]
    } else {
        digits.as_bytes()[2]
    };
    if !matches!(type_digit, b'1' | b'2' | b'3' | b'8' | b'9') {
        return bad(format!(
            "patent number {value:?}: type digit {:?} is not 1 (invention), 2 (utility model), 3 (design), 8 or 9 (PCT)",
            type_digit as char
        ));
    }
    let expected = patent_check_digit(digits).expect("digits checked");
    if check.len() != 1 || !check.starts_with(expected) {
        return bad(format!(
            "patent number {value:?} has check digit {check:?}, but its digits give {expected:?}"
        ));
    }
    Ok(())
}

/// Checks that a string is non-empty (when required), at most `max` bytes,
/// and free of control characters.
pub fn text(
    field: &'static str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<(), ValidationError> {
    if required && value.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(ValidationError::new(
            field,
            format!("is {} bytes, longer than the limit of {max}", value.len()),
        ));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Checks an identifier: 1..=max characters of `A-Z a-z 0-9 . - _ /`.
pub fn identifier(field: &'static str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.is_empty() || value.len() > max {
        return Err(ValidationError::new(
            field,
            format!("must be 1 to {max} characters, got {}", value.len()),
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/')))
    {
        return Err(ValidationError::new(
            field,
            format!(
                "{:?} contains {c:?}; allowed are letters, digits and . - _ /",
                truncate(value)
            ),
        ));
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uscc_accepts_real_codes() {
        // Codes published on the business licences of real enterprises.
        for code in [
            "91350100M000100Y43",
            "91110000802100433B",
            "91110108551385082Q",
            "914403001922038216",
        ] {
            uscc("enterprise", code).unwrap();
        }
    }

    #[test]
    fn uscc_rejects_with_reason() {
        let e = uscc("enterprise", "91350100M000100Y44").unwrap_err();
        assert_eq!(e.field, "enterprise");
        assert!(e.message.contains("check character"), "{e}");
        let e = uscc("owner", "91350100M000100Y4").unwrap_err();
        assert!(e.message.contains("18 characters"), "{e}");
        let e = uscc("owner", "91350100M000I00Y43").unwrap_err();
        assert!(e.message.contains("'I' at position 13"), "{e}");
        assert!(uscc("owner", "91350100m000100y43").is_err());
        assert!(uscc("owner", "九一三五〇一〇〇M000100Y43").is_err());
    }

    #[test]
    fn uscc_check_char_maps_31_to_0() {
        // Find a prefix whose sum is a multiple of 31: then the check is '0'.
        let prefix = "00000000000000000";
        assert_eq!(uscc_check_char(prefix), Some('0'));
        uscc("x", "000000000000000000").unwrap();
    }

    #[test]
    fn normalization() {
        assert_eq!(normalize_uscc(" 91350100m000100y43 "), "91350100M000100Y43");
        assert_eq!(normalize_ip_id(" zl98123456.x"), "ZL98123456.X");
        assert_eq!(normalize_ip_id("tm-2020-abc"), "tm-2020-abc");
    }

    #[test]
    fn patents() {
        patent_number("ip_id", "ZL201710601862.3").unwrap();
        // 8-digit form: 9 8 1 2 3 4 5 6 -> 18+24+4+10+18+28+40+54 = 196, 196 mod 11 = 9
        patent_number("ip_id", "ZL98123456.9").unwrap();
        let e = patent_number("ip_id", "ZL201710601862.4").unwrap_err();
        assert!(e.message.contains("check digit"), "{e}");
        assert!(patent_number("ip_id", "201710601862.3").is_err());
        assert!(patent_number("ip_id", "ZL2017106018623").is_err());
        assert!(patent_number("ip_id", "ZL20171060186.3").is_err());
        assert!(patent_number("ip_id", "ZL199910601862.3").is_err());
        assert!(patent_number("ip_id", "ZL201750601862.3").is_err());
        assert!(patent_number("ip_id", "ZL2017106018a2.3").is_err());
    }

    #[test]
    fn patent_check_x() {
        // Search a 12-digit number whose check is X and confirm it validates.
        let mut found = false;
        for serial in 0..200u32 {
            let digits = format!("2019101{serial:05}");
            if patent_check_digit(&digits) == Some('X') {
                patent_number("ip_id", &format!("ZL{digits}.X")).unwrap();
                assert!(patent_number("ip_id", &format!("ZL{digits}.0")).is_err());
                found = true;
                break;
            }
        }
        assert!(found);
    }

    #[test]
    fn text_and_identifier_bounds() {
        text("note", "ok", 10, false).unwrap();
        assert!(text("note", "", 10, true).is_err());
        assert!(text("note", "01234567890", 10, false).is_err());
        assert!(text("note", "a\u{7}b", 10, false).is_err());
        identifier("reference", "LN-2026/001", 64).unwrap();
        assert!(identifier("reference", "a b", 64).is_err());
        assert!(identifier("reference", "", 64).is_err());
    }
}
