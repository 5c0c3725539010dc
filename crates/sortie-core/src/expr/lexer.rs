//! Splits an expression into tokens.
//!
//! Mirrors actions/languageservices `expressions/src/lexer.ts` and actions/runner
//! `src/Sdk/DTExpressions2/Expressions2/Tokens/LexicalAnalyzer.cs`: numbers and identifiers run
//! to the next boundary character, `.` starts a number unless it follows something that can be
//! dereferenced, keywords are case-sensitive and are plain property names after a `.`.

use super::value::parse_number;

/// GitHub refuses expressions longer than this (`ExpressionConstants.MaxLength`).
pub(crate) const MAX_EXPRESSION_LENGTH: usize = 21_000;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Star,
    Not,
    Ne,
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
    And,
    Or,
    Null,
    True,
    False,
    Num(f64),
    Str(String),
    Ident(String),
}

/// A token and where it starts (1-based character position, as GitHub reports it).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) pos: usize,
    pub(crate) text: String,
}

/// `isBoundary` in lexer.ts / `TestTokenBoundary` in LexicalAnalyzer.cs.
fn is_boundary(c: char) -> bool {
    matches!(
        c,
        '(' | '[' | ')' | ']' | ',' | '.' | '!' | '>' | '<' | '=' | '&' | '|'
    ) || c.is_whitespace()
}

/// `isLegalIdentifier`: a letter or `_`, then letters, digits, `_` or `-`.
fn is_legal_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

struct Lexer<'a> {
    chars: Vec<char>,
    at: usize,
    tokens: Vec<Token>,
    input: &'a str,
}

/// Tokenizes `input`, or says which symbol is not part of the language.
pub(crate) fn lex(input: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = input.chars().collect();
    if chars.len() > MAX_EXPRESSION_LENGTH {
        return Err(format!(
            "the expression is {} characters long, more than GitHub's limit of {MAX_EXPRESSION_LENGTH}; shorten it",
            chars.len()
        ));
    }
    let mut lexer = Lexer {
        chars,
        at: 0,
        tokens: Vec::new(),
        input,
    };
    while let Some(&c) = lexer.chars.get(lexer.at) {
        lexer.next_token(c)?;
    }
    Ok(lexer.tokens)
}

impl Lexer<'_> {
    fn next_token(&mut self, c: char) -> Result<(), String> {
        let start = self.at;
        self.at += 1;
        let simple = match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            ',' => Tok::Comma,
            '*' => Tok::Star,
            '.' if self.follows_dereferenceable() => Tok::Dot,
            '.' | '-' | '+' | '0'..='9' => return self.number(start),
            '!' => self.pick('=', Tok::Ne, Tok::Not),
            '<' => self.pick('=', Tok::Le, Tok::Lt),
            '>' => self.pick('=', Tok::Ge, Tok::Gt),
            '=' | '&' | '|' => match self.double(c) {
                Some(tok) => tok,
                None => return self.identifier(start),
            },
            '\'' => return self.string(start),
            c if c.is_whitespace() => return Ok(()),
            _ => return self.identifier(start),
        };
        self.push(simple, start);
        Ok(())
    }

    /// `.` is the dereference operator after an identifier, `]`, `)` or `*`; otherwise it starts
    /// a number such as `.5`.
    fn follows_dereferenceable(&self) -> bool {
        matches!(
            self.tokens.last().map(|t| &t.tok),
            Some(Tok::Ident(_) | Tok::RBracket | Tok::RParen | Tok::Star)
        )
    }

    fn pick(&mut self, next: char, two: Tok, one: Tok) -> Tok {
        if self.chars.get(self.at) == Some(&next) {
            self.at += 1;
            two
        } else {
            one
        }
    }

    /// `==`, `&&`, `||`; a single `=`, `&` or `|` is not an operator.
    fn double(&mut self, c: char) -> Option<Tok> {
        if self.chars.get(self.at) != Some(&c) {
            return None;
        }
        self.at += 1;
        Some(match c {
            '=' => Tok::Eq,
            '&' => Tok::And,
            _ => Tok::Or,
        })
    }

    fn push(&mut self, tok: Tok, start: usize) {
        let text: String = self.chars[start..self.at].iter().collect();
        self.tokens.push(Token {
            tok,
            pos: start + 1,
            text,
        });
    }

    fn unexpected(&self, start: usize) -> String {
        let text: String = self.chars[start..self.at].iter().collect();
        format!(
            "unexpected symbol `{text}` at position {} of `{}`",
            start + 1,
            self.input
        )
    }

    fn number(&mut self, start: usize) -> Result<(), String> {
        while let Some(&c) = self.chars.get(self.at) {
            if is_boundary(c) && c != '.' {
                break;
            }
            self.at += 1;
        }
        let text: String = self.chars[start..self.at].iter().collect();
        let value = parse_number(&text);
        if value.is_nan() {
            return Err(self.unexpected(start));
        }
        self.push(Tok::Num(value), start);
        Ok(())
    }

    fn string(&mut self, start: usize) -> Result<(), String> {
        let mut value = String::new();
        loop {
            match self.chars.get(self.at) {
                None => {
                    return Err(format!(
                        "the string starting at position {} of `{}` is not closed; end it with `'` (write `''` for a quote inside a string)",
                        start + 1,
                        self.input
                    ))
                }
                Some('\'') if self.chars.get(self.at + 1) == Some(&'\'') => {
                    value.push('\'');
                    self.at += 2;
                }
                Some('\'') => {
                    self.at += 1;
                    break;
                }
                Some(&c) => {
                    value.push(c);
                    self.at += 1;
                }
            }
        }
        self.push(Tok::Str(value), start);
        Ok(())
    }

    fn identifier(&mut self, start: usize) -> Result<(), String> {
        while self.chars.get(self.at).is_some_and(|&c| !is_boundary(c)) {
            self.at += 1;
        }
        let text: String = self.chars[start..self.at].iter().collect();
        if !is_legal_identifier(&text) {
            return Err(self.unexpected(start));
        }
        let after_dot = matches!(self.tokens.last().map(|t| &t.tok), Some(Tok::Dot));
        let tok = match text.as_str() {
            _ if after_dot => Tok::Ident(text),
            "null" => Tok::Null,
            "true" => Tok::True,
            "false" => Tok::False,
            "NaN" => Tok::Num(f64::NAN),
            "Infinity" => Tok::Num(f64::INFINITY),
            _ => Tok::Ident(text),
        };
        self.push(tok, start);
        Ok(())
    }
}
