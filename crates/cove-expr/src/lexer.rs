//! The expression lexer: turns expression text into tokens with byte spans, the same way for
//! every expression kind, so the parser can report DynamoDB's `token`/`near` syntax errors.
//!
//! DynamoDB's lexical rules, as observed (scylladb `test/alternator/test_update_expression.py`
//! `test_update_expression_name_token`, run against AWS): a name starts with an ASCII letter
//! and continues with letters, digits and `_`; `#` and `:` start placeholders whose rest is one
//! or more letters, digits or `_`; a list index is `0` or digits without a leading zero;
//! whitespace is space, tab, CR and LF. Any other character is a token of its own that no
//! grammar rule accepts, which is how `SET _123` fails with `token: "_"`.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A name or function name: `[A-Za-z][A-Za-z0-9_]*`, not a keyword.
    Ident,
    /// `#name`, an ExpressionAttributeNames placeholder.
    NamePlaceholder,
    /// `:value`, an ExpressionAttributeValues placeholder.
    ValuePlaceholder,
    /// A list index: `0` or `[1-9][0-9]*`.
    Int,
    And,
    Or,
    Not,
    Between,
    In,
    Set,
    Remove,
    Add,
    Delete,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Plus,
    Minus,
    /// A character no rule accepts.
    Bad,
    /// The end of the text.
    Eof,
}

/// One token: its kind and where it sits in the text (byte offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// The token as DynamoDB prints it in a syntax error: its text, or `<EOF>`.
    pub fn text<'a>(&self, source: &'a str) -> &'a str {
        if self.kind == Kind::Eof {
            "<EOF>"
        } else {
            source.get(self.start..self.end).unwrap_or("")
        }
    }
}

fn keyword(word: &str) -> Option<Kind> {
    let kinds = [
        ("AND", Kind::And),
        ("OR", Kind::Or),
        ("NOT", Kind::Not),
        ("BETWEEN", Kind::Between),
        ("IN", Kind::In),
        ("SET", Kind::Set),
        ("REMOVE", Kind::Remove),
        ("ADD", Kind::Add),
        ("DELETE", Kind::Delete),
    ];
    kinds
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(word))
        .map(|&(_, kind)| kind)
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Splits `source` into tokens. The last token is always [`Kind::Eof`].
pub(crate) fn tokenize(source: &str) -> Vec<Token> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
            continue;
        }
        let start = i;
        let kind = if c.is_ascii_alphabetic() {
            while bytes.get(i).is_some_and(|&b| is_word(b)) {
                i += 1;
            }
            keyword(source.get(start..i).unwrap_or("")).unwrap_or(Kind::Ident)
        } else if c == b'#' || c == b':' {
            i += 1;
            while bytes.get(i).is_some_and(|&b| is_word(b)) {
                i += 1;
            }
            if i == start + 1 {
                Kind::Bad
            } else if c == b'#' {
                Kind::NamePlaceholder
            } else {
                Kind::ValuePlaceholder
            }
        } else if c.is_ascii_digit() {
            i += 1;
            if c != b'0' {
                while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            Kind::Int
        } else {
            let next = bytes.get(i + 1).copied();
            let (kind, len) = match (c, next) {
                (b'<', Some(b'>')) => (Kind::Ne, 2),
                (b'<', Some(b'=')) => (Kind::Le, 2),
                (b'>', Some(b'=')) => (Kind::Ge, 2),
                (b'<', _) => (Kind::Lt, 1),
                (b'>', _) => (Kind::Gt, 1),
                (b'=', _) => (Kind::Eq, 1),
                (b'(', _) => (Kind::LParen, 1),
                (b')', _) => (Kind::RParen, 1),
                (b'[', _) => (Kind::LBracket, 1),
                (b']', _) => (Kind::RBracket, 1),
                (b',', _) => (Kind::Comma, 1),
                (b'.', _) => (Kind::Dot, 1),
                (b'+', _) => (Kind::Plus, 1),
                (b'-', _) => (Kind::Minus, 1),
                // A stray character is one whole UTF-8 character, so spans stay on char
                // boundaries.
                _ => (Kind::Bad, utf8_len(c)),
            };
            i += len;
            kind
        };
        let end = i.min(bytes.len());
        tokens.push(Token { kind, start, end });
        i = end;
    }
    tokens.push(Token {
        kind: Kind::Eof,
        start: bytes.len(),
        end: bytes.len(),
    });
    tokens
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Kind> {
        tokenize(s).iter().map(|t| t.kind).collect()
    }

    fn texts(s: &str) -> Vec<&str> {
        tokenize(s).iter().map(|t| t.text(s)).collect()
    }

    #[test]
    fn names_placeholders_and_keywords() {
        assert_eq!(
            kinds("SET a = :v, #b=c"),
            vec![
                Kind::Set,
                Kind::Ident,
                Kind::Eq,
                Kind::ValuePlaceholder,
                Kind::Comma,
                Kind::NamePlaceholder,
                Kind::Eq,
                Kind::Ident,
                Kind::Eof
            ]
        );
        assert_eq!(
            kinds("and Or nOT between in")[..5],
            [Kind::And, Kind::Or, Kind::Not, Kind::Between, Kind::In]
        );
        assert_eq!(
            texts("Alpha_Numeric_123 A123_"),
            vec!["Alpha_Numeric_123", "A123_", "<EOF>"]
        );
    }

    #[test]
    fn underscores_and_digits_cannot_start_a_name() {
        assert_eq!(texts("_123"), vec!["_", "123", "<EOF>"]);
        assert_eq!(texts("__x"), vec!["_", "_", "x", "<EOF>"]);
        assert_eq!(texts("123a"), vec!["123", "a", "<EOF>"]);
        assert_eq!(texts("01"), vec!["0", "1", "<EOF>"]);
    }

    #[test]
    fn operators_and_stray_characters() {
        assert_eq!(
            texts("a<>b<=c>=d<e>f"),
            vec![
                "a", "<>", "b", "<=", "c", ">=", "d", "<", "e", ">", "f", "<EOF>"
            ]
        );
        assert_eq!(kinds("# : !")[..3], [Kind::Bad, Kind::Bad, Kind::Bad]);
        assert_eq!(texts("é!"), vec!["é", "!", "<EOF>"]);
    }
}
