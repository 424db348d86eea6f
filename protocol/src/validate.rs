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

/// Checks a USCC's structure (length, characters) but lets a wrong check
/// character through: `Ok(true)` means the code is well formed and fails
/// only the check, as pilot-era codes issued before GB 32100-2015 settled
/// do. Such a code is valid on chain only once a regulator admits it with a
/// `uscc_exception`; the ledger and the node's admission check that.
pub fn uscc_lenient(field: &'static str, value: &str) -> Result<bool, ValidationError> {
    match uscc(field, value) {
        Ok(()) => Ok(false),
        Err(_) if uscc_check_fault(value).is_some() => Ok(true),
        Err(e) => Err(e),
    }
}

/// The check character GB 32100-2015 gives `value`, if `value` is well
/// formed but ends in another one.
pub fn uscc_check_fault(value: &str) -> Option<char> {
    if value.len() != 18 || !value.is_ascii() {
        return None;
    }
    let expected = uscc_check_char(&value[..17])?;
    let last = value.as_bytes()[17];
    (uscc_value(last).is_some() && last as char != expected).then_some(expected)
}

/// What the node and the ledger say of a code that fails the check and
/// has no exception on chain.
pub fn uscc_needs_exception(field: &str, value: &str) -> String {
    let expected = uscc_check_fault(value).unwrap_or('?');
    let got = value.chars().last().unwrap_or('?');
    format!(
        "{field}: USCC {value:?} has check character {got:?}, but GB 32100-2015 gives {expected:?}; is a character mistyped? A code issued before GB 32100-2015 settled can be admitted by a regulator (`deltachain submit uscc-exception --code {value} --name NAME --reason TEXT`)"
    )
}

/// Checks an ISO 4217 currency code (three capital letters).
pub fn currency(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.len() != 3 || !value.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ValidationError::new(
            field,
            format!(
                "{:?} is not a 3-letter ISO 4217 code like CNY",
                truncate(value)
            ),
        ));
    }
    Ok(())
}

/// Checks a month, `YYYY-MM` (1990 to 2099).
pub fn period(field: &'static str, value: &str) -> Result<(), ValidationError> {
    let ok = value.len() == 7
        && value.as_bytes()[4] == b'-'
        && value[..4].bytes().all(|b| b.is_ascii_digit())
        && value[5..].bytes().all(|b| b.is_ascii_digit())
        && (1990..=2099).contains(&value[..4].parse::<u32>().unwrap_or(0))
        && (1..=12).contains(&value[5..].parse::<u32>().unwrap_or(0));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            field,
            format!("{:?} is not a month like 2026-10", truncate(value)),
        ))
    }
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}')
}

/// Checks a Chinese court case number (案号) as courts give them since
/// 2016: `（year）` with full- or half-width parentheses, the court's
/// abbreviation and code (`沪0115`, `最高法`), the case type (`民初`, `执`,
/// `执恢`), the serial number and `号`, like `（2024）沪0115民初12345号`.
pub fn case_number(field: &'static str, value: &str) -> Result<(), ValidationError> {
    let bad = || {
        Err(ValidationError::new(
            field,
            format!(
                "{:?} is not a court case number like （2024）沪0115民初12345号",
                truncate(value)
            ),
        ))
    };
    let mut it = value.chars().peekable();
    if !matches!(it.next(), Some('（' | '(')) {
        return bad();
    }
    let year: String = it.by_ref().take(4).collect();
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return bad();
    }
    if !(1949..=2099).contains(&year.parse::<u32>().unwrap_or(0)) {
        return bad();
    }
    if !matches!(it.next(), Some('）' | ')')) {
        return bad();
    }
    // Court abbreviation, court code, case type, serial, 号.
    let mut runs: Vec<(bool, usize)> = Vec::new();
    let rest: Vec<char> = it.collect();
    if rest.last() != Some(&'号') {
        return bad();
    }
    for c in &rest[..rest.len() - 1] {
        let kind = if c.is_ascii_digit() {
            false
        } else if is_han(*c) {
            true
        } else {
            return bad();
        };
        match runs.last_mut() {
            Some((k, n)) if *k == kind => *n += 1,
            _ => runs.push((kind, 1)),
        }
    }
    let shape_ok = match runs.as_slice() {
        // 沪 0115 民初 12345 | 最高法 民终 123
        [(true, a), (false, b), (true, c), (false, d)] => *a <= 3 && *b <= 6 && *c <= 6 && *d <= 8,
        [(true, a), (false, d)] => *a <= 9 && *d <= 8,
        _ => false,
    };
    if shape_ok && value.chars().count() <= MAX_CASE_NUMBER_CHARS {
        Ok(())
    } else {
        bad()
    }
}

/// Longest court case number.
pub const MAX_CASE_NUMBER_CHARS: usize = 40;

/// Separators people type inside codes: spaces (ASCII, no-break and
/// ideographic) and hyphens. A USCC or patent number never contains them.
fn is_code_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '\u{a0}' | '\u{3000}' | '\t')
}

/// The canonical form of a USCC as typed by a person: spaces and hyphens
/// dropped (`9135 0100-M000 100Y43`), letters upper-cased. Clients and the
/// API apply it before validation; the ledger only ever sees canonical codes.
pub fn normalize_uscc(s: &str) -> String {
    s.chars()
        .filter(|c| !is_code_separator(*c))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The canonical form of an IP id as typed. Patent numbers (`zl...`) lose
/// their spaces and hyphens and are upper-cased, so `zl 2017 1060 1862.3`
/// is `ZL201710601862.3`; other registration ids are only trimmed.
pub fn normalize_ip_id(s: &str) -> String {
    let t = s.trim();
    let compact: String = t.chars().filter(|c| !is_code_separator(*c)).collect();
    // `get` rather than slicing: the first two bytes of user text may cut a
    // multi-byte character.
    if compact.len() > 2
        && compact
            .get(..2)
            .is_some_and(|p| p.eq_ignore_ascii_case("zl"))
    {
        compact.to_ascii_uppercase()
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
    let shown = truncate(value);
    let Some(rest) = value.strip_prefix("ZL") else {
        return bad(format!(
            "patent number {:?} must start with \"ZL\", like ZL201710601862.3",
            shown
        ));
    };
    let Some((digits, check)) = rest.split_once('.') else {
        return bad(format!(
            "patent number {shown:?} needs a '.' before its check digit, like ZL201710601862.3"
        ));
    };
    if !digits.bytes().all(|c| c.is_ascii_digit()) || !(digits.len() == 12 || digits.len() == 8) {
        return bad(format!(
            "patent number {shown:?} must have 12 digits (since 2003) or 8 digits (older) after ZL"
        ));
    }
    let type_digit = if digits.len() == 12 {
        let year: u32 = digits[..4].parse().unwrap_or(0);
        if !(2003..=2099).contains(&year) {
            return bad(format!(
                "patent number {shown:?}: the 12-digit form starts with an application year from 2003, got {year}"
            ));
        }
        digits.as_bytes()[4]
    } else {
        digits.as_bytes()[2]
    };
    if !matches!(type_digit, b'1' | b'2' | b'3' | b'8' | b'9') {
        return bad(format!(
            "patent number {shown:?}: type digit {:?} is not 1 (invention), 2 (utility model), 3 (design), 8 or 9 (PCT)",
            type_digit as char
        ));
    }
    let expected = patent_check_digit(digits).expect("digits checked");
    if check.len() != 1 || !check.starts_with(expected) {
        return bad(format!(
            "patent number {shown:?} has check digit {check:?}, but its digits give {expected:?}"
        ));
    }
    Ok(())
}

/// Invisible characters that reorder or hide text (bidi overrides,
/// zero-width characters, byte-order mark): a note that shows one thing and
/// says another has no place in a credit record.
fn is_deceptive_format(c: char) -> bool {
    matches!(c,
        '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Checks free text: non-empty (when required), at most `max_chars`
/// characters (any script: 500 characters of Chinese are 500, not 166), and
/// free of control and invisible formatting characters.
pub fn text(
    field: &'static str,
    value: &str,
    max_chars: usize,
    required: bool,
) -> Result<(), ValidationError> {
    if required && value.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(ValidationError::new(
            field,
            format!("is {chars} characters, longer than the limit of {max_chars}"),
        ));
    }
    if let Some((pos, c)) = value
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_control() || is_deceptive_format(*c))
    {
        return Err(ValidationError::new(
            field,
            format!(
                "must not contain control or invisible formatting characters (found U+{:04X} at character {})",
                c as u32,
                pos + 1
            ),
        ));
    }
    Ok(())
}

/// Checks a machine identifier (chain ids, validator names, registration
/// ids that appear in URLs): 1..=max characters of `A-Z a-z 0-9 . - _ /`.
pub fn identifier(field: &'static str, value: &str, max: usize) -> Result<(), ValidationError> {
    check_label(
        field,
        value,
        max,
        |c| c.is_ascii_alphanumeric(),
        "letters, digits and . - _ /",
    )
}

/// Checks a reference or a name a person gives (contract and loan
/// references, member names): 1..=max characters of letters and digits of
/// any script (`合肥-贷-001`) and `. - _ /`. Spaces, punctuation and
/// combining marks are refused so that two references that look alike are
/// alike.
pub fn reference(field: &'static str, value: &str, max: usize) -> Result<(), ValidationError> {
    check_label(
        field,
        value,
        max,
        |c| c.is_alphanumeric(),
        "letters (Chinese included), digits and . - _ /",
    )
}

fn check_label(
    field: &'static str,
    value: &str,
    max: usize,
    letter: impl Fn(char) -> bool,
    allowed: &str,
) -> Result<(), ValidationError> {
    let chars = value.chars().count();
    if chars == 0 || chars > max {
        return Err(ValidationError::new(
            field,
            format!("must be 1 to {max} characters, got {chars}"),
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(letter(*c) || matches!(c, '.' | '-' | '_' | '/')))
    {
        return Err(ValidationError::new(
            field,
            format!(
                "{:?} contains {c:?}; allowed are {allowed}",
                truncate(value)
            ),
        ));
    }
    Ok(())
}

/// At most the first 40 characters of user input, for quoting it in an
/// error: an error echoes enough to find the mistake, never a whole payload.
pub fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
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
        // As a person writes them: grouped digits, hyphens, spaces.
        assert_eq!(normalize_ip_id("zl 2017 1060 1862.3"), "ZL201710601862.3");
        assert_eq!(normalize_ip_id("ZL2017-1060-1862.3"), "ZL201710601862.3");
        assert_eq!(
            normalize_uscc("9135 0100-m000\u{3000}100y43"),
            "91350100M000100Y43"
        );
    }

    #[test]
    fn normalization_never_slices_through_a_character() {
        // Each of these panicked before: `t[..2]` cut a multi-byte character.
        for s in ["\u{800}", "x\u{d1}", "xÑ", "合肥", "z\u{e9}l", "é", "ZÑ1"] {
            let _ = normalize_ip_id(s);
            let _ = normalize_uscc(s);
            let _ = patent_number("ip_id", s);
            let _ = uscc("uscc", s);
        }
    }

    #[test]
    fn errors_quote_a_short_prefix_of_the_input() {
        let long = "ZL".to_string() + &"9".repeat(10_000);
        for e in [
            patent_number("ip_id", &long).unwrap_err(),
            uscc("uscc", &"9".repeat(10_000)).unwrap_err(),
            identifier("id", &"a b".repeat(5_000), 100_000).unwrap_err(),
        ] {
            assert!(e.message.len() < 300, "{}", e.message.len());
        }
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
        // The limit counts characters: ten Chinese characters are ten.
        text("note", "合肥市科技型企业贷款", 10, false).unwrap();
        assert!(text("note", "合肥市科技型企业贷款展期", 10, false).is_err());
        let e = text("note", "ok\u{202e}kcab", 100, false).unwrap_err();
        assert!(e.message.contains("U+202E"), "{e}");
        identifier("reference", "LN-2026/001", 64).unwrap();
        assert!(identifier("reference", "a b", 64).is_err());
        assert!(identifier("reference", "", 64).is_err());
        assert!(identifier("ip_id", "合肥-1", 64).is_err());
        reference("reference", "合肥-贷-001", 64).unwrap();
        reference("reference", "LN-2026/001", 64).unwrap();
        assert!(reference("reference", "合肥 贷", 64).is_err());
        assert!(reference("reference", "e\u{301}", 64).is_err());
        reference("name", &"贷".repeat(64), 64).unwrap();
        assert!(reference("name", &"贷".repeat(65), 64).is_err());
    }
}
