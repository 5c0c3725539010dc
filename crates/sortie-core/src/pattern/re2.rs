//! Step 2 of compiling a pattern: read act's regex the way Go's `regexp/syntax` parser does
//! (`regexp.Compile`, i.e. the `Perl` flags: `ClassNL | OneLine | PerlX | UnicodeGroups`).
//!
//! Only the constructs act's translation can emit are supported: literals and `\`-escaped
//! punctuation, `.`, `[...]` classes, the `(.+/)` group, `^`, and the `*`, `+`, `?` quantifiers
//! (with Go's lazy `?` suffix and its refusal of stacked quantifiers such as `*+`). The escapes a
//! range ending in `\` can smuggle in (`\d`, `\b`, `\x41`, …) are refused with
//! [`Unsupported`](SyntaxError::Unsupported) rather than half-imitated.

/// What one regex position consumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CharSet {
    /// Exactly this character.
    Lit(char),
    /// Any character except this one (e.g. `[^/]`; Go's `ClassNL` lets it match `\n`).
    Not(char),
    /// `.`: any character except `\n` (Go's `DotNL` is off).
    AnyButNewline,
    /// A bracket class: inclusive ranges, possibly negated.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl CharSet {
    /// Whether `c` is in the set.
    pub fn contains(&self, c: char) -> bool {
        match self {
            CharSet::Lit(l) => c == *l,
            CharSet::Not(n) => c != *n,
            CharSet::AnyButNewline => c != '\n',
            CharSet::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

/// A quantifier (laziness is irrelevant to whether a whole string matches, so it is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Repeat {
    /// `?`
    Optional,
    /// `*`
    Star,
    /// `+`
    Plus,
}

/// The parsed regex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Node {
    /// Consumes one character from the set.
    Char(CharSet),
    /// `^` (Go `OpBeginText`): zero-width, holds only at the start of the input.
    Begin,
    /// `(...)`.
    Group(Vec<Node>),
    /// A quantified node.
    Repeat(Box<Node>, Repeat),
}

/// Why Go's parser (or sortie's reading of it) rejects act's regex. Offsets are byte offsets in the
/// regex text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SyntaxError {
    /// Go's `ErrInvalidRepeatOp`: a quantifier directly after another one (`*+`, `??+`, `++`).
    StackedRepeat(usize),
    /// Go's `ErrMissingRepeatArgument`.
    MissingRepeatArgument(usize),
    /// Go's `ErrMissingBracket`: the class opened here never closes.
    UnclosedClass(usize),
    /// Go's `ErrInvalidCharRange`: a backwards range inside a class.
    BackwardsRange(usize),
    /// A construct act's translation produced that sortie does not evaluate (Go accepts some,
    /// such as `\d`, and rejects others, such as `\y`).
    Unsupported(usize),
}

/// Parses act's regex (which starts with `^` and ends with `$`) into the nodes between them.
pub(super) fn parse(regex: &str) -> Result<Vec<Node>, SyntaxError> {
    let body = regex.strip_prefix('^').and_then(|r| r.strip_suffix('$'));
    let Some(body) = body else {
        return Err(SyntaxError::Unsupported(0));
    };
    let mut parser = Parser {
        text: regex,
        pos: 1,
        end: 1 + body.len(),
    };
    let nodes = parser.concat()?;
    match parser.peek() {
        None => Ok(nodes),
        Some(_) => Err(SyntaxError::Unsupported(parser.pos)),
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    end: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..self.end].chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.text[self.pos..self.end].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// A sequence, up to the end or an unconsumed `)`.
    fn concat(&mut self) -> Result<Vec<Node>, SyntaxError> {
        let mut nodes: Vec<Node> = Vec::new();
        let mut after_repeat = false;
        while let Some(c) = self.peek() {
            let at = self.pos;
            if c == ')' {
                break;
            }
            self.bump();
            let node = match c {
                '*' | '+' | '?' => {
                    // Go's `parser.repeat`: take a lazy `?` suffix, then refuse stacking.
                    if self.peek() == Some('?') {
                        self.bump();
                    }
                    if after_repeat {
                        return Err(SyntaxError::StackedRepeat(at));
                    }
                    let Some(last) = nodes.pop() else {
                        return Err(SyntaxError::MissingRepeatArgument(at));
                    };
                    let kind = match c {
                        '*' => Repeat::Star,
                        '+' => Repeat::Plus,
                        _ => Repeat::Optional,
                    };
                    nodes.push(Node::Repeat(Box::new(last), kind));
                    after_repeat = true;
                    continue;
                }
                '(' => self.group(at)?,
                '[' => Node::Char(self.class(at)?),
                '.' => Node::Char(CharSet::AnyButNewline),
                '^' => Node::Begin,
                '\\' => Node::Char(CharSet::Lit(self.escape(at)?)),
                '$' | '|' | '{' => return Err(SyntaxError::Unsupported(at)),
                other => Node::Char(CharSet::Lit(other)),
            };
            nodes.push(node);
            after_repeat = false;
        }
        Ok(nodes)
    }

    fn group(&mut self, at: usize) -> Result<Node, SyntaxError> {
        if self.peek() == Some('?') {
            return Err(SyntaxError::Unsupported(at)); // flags or named groups: act never emits them
        }
        let inner = self.concat()?;
        if self.bump() != Some(')') {
            return Err(SyntaxError::Unsupported(at));
        }
        Ok(Node::Group(inner))
    }

    /// The character after a `\` (Go's `parseEscape`, for the escapes act can produce).
    fn escape(&mut self, at: usize) -> Result<char, SyntaxError> {
        match self.bump() {
            // "Escaped non-word characters are always themselves."
            Some(c) if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok(c),
            Some('a') => Ok('\u{7}'),
            Some('f') => Ok('\u{c}'),
            Some('n') => Ok('\n'),
            Some('r') => Ok('\r'),
            Some('t') => Ok('\t'),
            Some('v') => Ok('\u{b}'),
            _ => Err(SyntaxError::Unsupported(at)),
        }
    }

    /// A bracket class after its `[` (Go's `parseClass` with `PerlX`).
    fn class(&mut self, open: usize) -> Result<CharSet, SyntaxError> {
        let mut negated = false;
        if self.peek() == Some('^') {
            self.bump();
            negated = true;
        }
        let mut ranges = Vec::new();
        let mut first = true; // `]` and `-` are ordinary as the first member
        loop {
            let at = self.pos;
            match self.peek() {
                None => return Err(SyntaxError::UnclosedClass(open)),
                Some(']') if !first => break,
                Some('[') if self.peek2() == Some(':') => return Err(SyntaxError::Unsupported(at)),
                Some(_) => {}
            }
            first = false;
            let lo = self.class_char(at)?;
            let mut hi = lo;
            // "[a-] means (a|-) so check for final ]."
            if self.peek() == Some('-') && self.peek2().is_some_and(|c| c != ']') {
                self.bump();
                hi = self.class_char(self.pos)?;
                if hi < lo {
                    return Err(SyntaxError::BackwardsRange(at));
                }
            }
            ranges.push((lo, hi));
        }
        self.bump();
        Ok(match (negated, ranges.as_slice()) {
            (false, [(lo, hi)]) if lo == hi => CharSet::Lit(*lo),
            (true, [(lo, hi)]) if lo == hi => CharSet::Not(*lo),
            _ => CharSet::Class { negated, ranges },
        })
    }

    fn class_char(&mut self, at: usize) -> Result<char, SyntaxError> {
        match self.bump() {
            Some('\\') => self.escape(at),
            Some(c) => Ok(c),
            None => Err(SyntaxError::UnclosedClass(at)),
        }
    }
}
