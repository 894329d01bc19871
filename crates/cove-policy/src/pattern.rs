//! Compiled string patterns: literal text, `*` and `?` wildcards and `${...}` policy
//! variables, matched without allocating; and ARN patterns, matched one colon-separated
//! component at a time as IAM does for `Resource` and the `Arn*` operators.

/// Where a pattern finds the values of its `${key}` variables (the request context).
pub(crate) trait Variables {
    /// The value of the single-valued context key `key` (lower-cased), or `None` when the
    /// key is absent or holds several values (IAM allows only single-valued keys as variables).
    fn variable(&self, key: &str) -> Option<&str>;
}

/// A context with no keys, for patterns that have no variables.
#[cfg(test)]
pub(crate) struct NoVariables;

#[cfg(test)]
impl Variables for NoVariables {
    fn variable(&self, _key: &str) -> Option<&str> {
        None
    }
}

/// What the text of a pattern may contain besides literal characters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Syntax {
    /// `${key}` variables and the `${*}`, `${?}`, `${$}` escapes (policy version 2012-10-17).
    pub variables: bool,
    /// `*` and `?` are wildcards (Action, Resource, `*Like`, `Arn*`); otherwise literal.
    pub wildcards: bool,
    /// Literal text is lower-cased at compile time, for case-insensitive matching against
    /// text the caller has lower-cased once (action names).
    pub lowercase: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Box<str>),
    /// `${key}` or `${key, 'default'}`; `key` is lower-cased because context key names are
    /// case-insensitive.
    Variable {
        key: Box<str>,
        default: Option<Box<str>>,
    },
    /// `*`: any run of characters, including none.
    Any,
    /// `?`: exactly one character.
    One,
}

/// A compiled pattern. Without wildcards it matches by equality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    pieces: Box<[Piece]>,
    has_variables: bool,
}

impl Pattern {
    /// Whether the pattern is a lone `*`, which matches any text.
    pub(crate) fn is_any(&self) -> bool {
        matches!(*self.pieces, [Piece::Any])
    }

    pub(crate) fn compile(text: &str, syntax: Syntax) -> Pattern {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if syntax.variables
                && rest.starts_with("${")
                && let Some(end) = rest[2..].find('}')
            {
                let inner = &rest[2..2 + end];
                let whole = &rest[..2 + end + 1];
                rest = &rest[2 + end + 1..];
                match parse_variable(inner) {
                    Some(VariableText::Escape(ch)) => literal.push(ch),
                    Some(VariableText::Variable { key, default }) => {
                        flush(&mut literal, &mut pieces);
                        pieces.push(Piece::Variable {
                            key: key.to_lowercase().into(),
                            default: default.map(Into::into),
                        });
                    }
                    // Text that only looks like a variable stays literal.
                    None => push_literal(&mut literal, whole, syntax.lowercase),
                }
                continue;
            }
            rest = &rest[c.len_utf8()..];
            match c {
                '*' if syntax.wildcards => {
                    flush(&mut literal, &mut pieces);
                    // `**` means the same as `*`; one piece keeps matching linear.
                    if pieces.last() != Some(&Piece::Any) {
                        pieces.push(Piece::Any);
                    }
                }
                '?' if syntax.wildcards => {
                    flush(&mut literal, &mut pieces);
                    pieces.push(Piece::One);
                }
                _ => {
                    let mut buf = [0u8; 4];
                    push_literal(&mut literal, c.encode_utf8(&mut buf), syntax.lowercase);
                }
            }
        }
        flush(&mut literal, &mut pieces);
        let has_variables = pieces.iter().any(|p| matches!(p, Piece::Variable { .. }));
        Pattern {
            pieces: pieces.into(),
            has_variables,
        }
    }

    /// Whether `text` matches: wildcards as globs, everything else literally. A variable
    /// whose key is absent (and has no default) makes the pattern match nothing.
    pub(crate) fn matches(&self, text: &str, vars: &dyn Variables) -> bool {
        if self.has_variables && !self.resolvable(vars) {
            return false;
        }
        let mut segments = self.pieces.split(|p| *p == Piece::Any);
        let Some(first) = segments.next() else {
            return text.is_empty();
        };
        let Some(mut pos) = match_at(first, text, 0, vars) else {
            return false;
        };
        let mut segments = segments.peekable();
        if segments.peek().is_none() {
            // No `*`: the first segment is the whole pattern.
            return pos == text.len();
        }
        while let Some(segment) = segments.next() {
            if segments.peek().is_none() {
                return matches_suffix(segment, text, pos, vars);
            }
            // Between two `*`s, the leftmost match is always safe to take: the segment has a
            // fixed width, so a later start can only leave less text for what follows.
            match find_leftmost(segment, text, pos, vars) {
                Some(end) => pos = end,
                None => return false,
            }
        }
        true
    }

    /// Case-insensitive equality (the `*IgnoreCase` operators and `Bool`); wildcards are not
    /// special here because such patterns are compiled without them.
    pub(crate) fn equals_ignore_case(&self, text: &str, vars: &dyn Variables) -> bool {
        if self.has_variables && !self.resolvable(vars) {
            return false;
        }
        let pattern = self.pieces.iter().flat_map(|p| piece_text(p, vars).chars());
        pattern
            .flat_map(char::to_lowercase)
            .eq(text.chars().flat_map(char::to_lowercase))
    }

    fn resolvable(&self, vars: &dyn Variables) -> bool {
        self.pieces.iter().all(|p| match p {
            Piece::Variable { key, default } => vars.variable(key).is_some() || default.is_some(),
            _ => true,
        })
    }
}

enum VariableText<'a> {
    Escape(char),
    Variable {
        key: &'a str,
        default: Option<&'a str>,
    },
}

/// Reads the text between `${` and `}`: an escape, `key`, or `key, 'default'`.
fn parse_variable(inner: &str) -> Option<VariableText<'_>> {
    match inner {
        "*" => return Some(VariableText::Escape('*')),
        "?" => return Some(VariableText::Escape('?')),
        "$" => return Some(VariableText::Escape('$')),
        _ => {}
    }
    let (key, default) = match inner.split_once(',') {
        None => (inner.trim(), None),
        Some((key, default)) => {
            let default = default.trim();
            let quoted = default.len() >= 2 && default.starts_with('\'') && default.ends_with('\'');
            if !quoted {
                return None;
            }
            (key.trim(), Some(&default[1..default.len() - 1]))
        }
    };
    if key.is_empty() || key.contains(char::is_whitespace) {
        return None;
    }
    Some(VariableText::Variable { key, default })
}

fn push_literal(literal: &mut String, text: &str, lowercase: bool) {
    if lowercase {
        literal.extend(text.chars().flat_map(char::to_lowercase));
    } else {
        literal.push_str(text);
    }
}

fn flush(literal: &mut String, pieces: &mut Vec<Piece>) {
    if !literal.is_empty() {
        pieces.push(Piece::Literal(std::mem::take(literal).into()));
    }
}

/// The text a literal or (resolvable) variable stands for; wildcards have none.
fn piece_text<'a>(piece: &'a Piece, vars: &'a dyn Variables) -> &'a str {
    match piece {
        Piece::Literal(s) => s,
        Piece::Variable { key, default } => vars
            .variable(key)
            .or(default.as_deref())
            .unwrap_or_default(),
        Piece::Any | Piece::One => "",
    }
}

/// Matches a `*`-free segment starting at byte `start`; returns where it ends.
fn match_at(segment: &[Piece], text: &str, start: usize, vars: &dyn Variables) -> Option<usize> {
    let mut pos = start;
    for piece in segment {
        match piece {
            Piece::One => pos += text[pos..].chars().next()?.len_utf8(),
            Piece::Literal(_) | Piece::Variable { .. } => {
                let expected = piece_text(piece, vars);
                if !text[pos..].starts_with(expected) {
                    return None;
                }
                pos += expected.len();
            }
            // Segments come from splitting at `Any`.
            Piece::Any => return None,
        }
    }
    Some(pos)
}

/// The leftmost match of `segment` at or after byte `from`; returns where it ends.
fn find_leftmost(
    segment: &[Piece],
    text: &str,
    from: usize,
    vars: &dyn Variables,
) -> Option<usize> {
    let mut start = from;
    loop {
        if let Some(end) = match_at(segment, text, start, vars) {
            return Some(end);
        }
        start += text[start..].chars().next()?.len_utf8();
    }
}

/// Whether `segment` matches the end of `text`, starting at or after byte `from`.
fn matches_suffix(segment: &[Piece], text: &str, from: usize, vars: &dyn Variables) -> bool {
    if segment.is_empty() {
        return true;
    }
    let mut start = from;
    loop {
        if match_at(segment, text, start, vars) == Some(text.len()) {
            return true;
        }
        match text[start..].chars().next() {
            Some(c) => start += c.len_utf8(),
            None => return false,
        }
    }
}

/// An ARN pattern: `*` alone, or six colon-separated component patterns, the last of which
/// covers the rest of the ARN (colons included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArnPattern {
    All,
    Components(Box<[Pattern]>),
    /// Fewer than six components: IAM compares ARNs component by component, so such a
    /// pattern matches nothing.
    Never,
}

impl ArnPattern {
    pub(crate) fn compile(text: &str, variables: bool) -> ArnPattern {
        if text == "*" {
            return ArnPattern::All;
        }
        let syntax = Syntax {
            variables,
            wildcards: true,
            lowercase: false,
        };
        let components: Vec<Pattern> = split_arn_components(text, variables)
            .into_iter()
            .map(|c| Pattern::compile(c, syntax))
            .collect();
        if components.len() == 6 {
            ArnPattern::Components(components.into())
        } else {
            ArnPattern::Never
        }
    }

    pub(crate) fn matches(&self, arn: &str, vars: &dyn Variables) -> bool {
        match self {
            ArnPattern::All => true,
            ArnPattern::Never => false,
            ArnPattern::Components(components) => {
                let mut parts = arn.splitn(6, ':');
                for component in components.iter() {
                    match parts.next() {
                        Some(part) if component.matches(part, vars) => {}
                        _ => return false,
                    }
                }
                true
            }
        }
    }
}

/// Splits pattern text at its first five colons, not counting colons inside `${...}`
/// (variable names such as `aws:username` contain one).
fn split_arn_components(text: &str, variables: bool) -> Vec<&str> {
    let mut components = Vec::with_capacity(6);
    let mut start = 0;
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() && components.len() < 5 {
        if variables
            && text[i..].starts_with("${")
            && let Some(end) = text[i + 2..].find('}')
        {
            i += 2 + end + 1;
            continue;
        }
        if bytes[i] == b':' {
            components.push(&text[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    components.push(&text[start..]);
    components
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const GLOB: Syntax = Syntax {
        variables: true,
        wildcards: true,
        lowercase: false,
    };
    const EXACT: Syntax = Syntax {
        variables: true,
        wildcards: false,
        lowercase: false,
    };

    struct Vars(HashMap<&'static str, &'static str>);

    impl Variables for Vars {
        fn variable(&self, key: &str) -> Option<&str> {
            self.0.get(key).copied()
        }
    }

    fn vars() -> Vars {
        Vars(HashMap::from([
            ("aws:username", "alice"),
            ("aws:userid", "AIDAEXAMPLE"),
        ]))
    }

    fn glob(pattern: &str, text: &str) -> bool {
        Pattern::compile(pattern, GLOB).matches(text, &vars())
    }

    #[test]
    fn globs() {
        let cases = [
            ("*", "", true),
            ("*", "anything:at/all", true),
            ("a*", "a", true),
            ("a*", "ba", false),
            ("*a", "ba", true),
            ("*a", "ab", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "aéc", true),
            ("*Get*Item", "dynamodb:GetItem", true),
            ("*Get*Item", "dynamodb:BatchGetItem", true),
            ("*Get*Item", "dynamodb:GetItems", false),
            ("a*b*c", "abbbc", true),
            ("a*b*c", "acb", false),
            ("a**b", "ab", true),
            ("?*", "", false),
            ("*?", "x", true),
            ("iam:*AccessKey*", "iam:CreateAccessKey", true),
            ("iam:*AccessKey*", "iam:ListAccessKeys", true),
            ("iam:*AccessKey*", "iam:GetUser", false),
            ("", "", true),
            ("", "x", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob(pattern, text), expected, "{pattern:?} vs {text:?}");
        }
    }

    #[test]
    fn variables_and_escapes() {
        assert!(glob("home/${aws:username}/*", "home/alice/x"));
        assert!(!glob("home/${aws:username}/*", "home/bob/x"));
        // Key names are case-insensitive.
        assert!(glob("home/${AWS:UserName}", "home/alice"));
        // A missing key makes the pattern match nothing, even `*` around it.
        assert!(!glob("*${aws:PrincipalTag/team}*", "anything"));
        assert!(glob(
            "${aws:PrincipalTag/team, 'company-wide'}",
            "company-wide"
        ));
        assert!(glob("${aws:username, 'anonymous'}", "alice"));
        // Escapes are literal characters, even in glob patterns.
        assert!(glob("a${*}b", "a*b"));
        assert!(!glob("a${*}b", "axb"));
        assert!(glob("${?}${$}", "?$"));
        // Malformed variables stay literal.
        assert!(glob("${}", "${}"));
        assert!(glob("${a, b}", "${a, b}"));
        assert!(glob("${unterminated", "${unterminated"));
        // Without variable support (Version 2008-10-17) the text is literal.
        let old = Pattern::compile(
            "${aws:username}",
            Syntax {
                variables: false,
                ..EXACT
            },
        );
        assert!(old.matches("${aws:username}", &vars()));
        assert!(!old.matches("alice", &vars()));
    }

    #[test]
    fn exact_and_ignore_case() {
        let exact = Pattern::compile("a*b", EXACT);
        assert!(exact.matches("a*b", &NoVariables));
        assert!(!exact.matches("axb", &NoVariables));
        let p = Pattern::compile("JohnDoe-${aws:username}", EXACT);
        assert!(p.equals_ignore_case("johndoe-ALICE", &vars()));
        assert!(!p.equals_ignore_case("johndoe-alic", &vars()));
        let missing = Pattern::compile("${aws:nothing}", EXACT);
        assert!(!missing.equals_ignore_case("", &vars()));
        let lower = Pattern::compile(
            "DynamoDB:Get*",
            Syntax {
                lowercase: true,
                ..GLOB
            },
        );
        assert!(lower.matches("dynamodb:getitem", &NoVariables));
    }

    #[test]
    fn arn_components() {
        let p = ArnPattern::compile("arn:aws:someservice:*:111122223333:finance/*", true);
        // The IAM documentation's example: `*` stays inside its component.
        let tricky = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt";
        assert!(!p.matches(tricky, &vars()));
        assert!(glob("arn:aws:someservice:*:111122223333:finance/*", tricky));
        assert!(p.matches(
            "arn:aws:someservice:us-east-2:111122223333:finance/x:y",
            &vars()
        ));
        let v = ArnPattern::compile("arn:aws:dynamodb:*:*:table/${aws:username}", true);
        assert!(v.matches("arn:aws:dynamodb:us-east-1:1:table/alice", &vars()));
        assert!(!v.matches("arn:aws:dynamodb:us-east-1:1:table/bob", &vars()));
        assert_eq!(ArnPattern::compile("arn:aws:*", true), ArnPattern::Never);
        assert!(ArnPattern::compile("*", true).matches("not an arn", &vars()));
        assert!(!p.matches("arn:aws:someservice", &vars()));
    }
}
