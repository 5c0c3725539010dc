//! Step 3 of compiling a pattern: a Thompson NFA over the parsed regex, matched against the whole
//! input in one pass (time `O(len(input) × states)`, never exponential, no backtracking).
//!
//! Programs of up to 64 states (every realistic filter pattern) run bit-parallel: the live state
//! set is one `u64` and the epsilon closures are precomputed masks. Larger programs run a
//! Pike-style simulation with sparse sets. Patterns without any special character skip the NFA and
//! compare strings.

use super::re2::{CharSet, Node, Repeat};

/// One NFA state. `u32` fields are state indices.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Consume a character in the set, then go to `out`.
    Char { set: CharSet, out: u32 },
    /// Go to both.
    Split(u32, u32),
    /// Go to `out` only at the start of the input (`^`).
    Begin(u32),
    /// The whole input matched.
    Match,
}

/// A compiled matcher for one pattern body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Program {
    /// The pattern is a plain string.
    Literal(String),
    /// A general NFA.
    Nfa(Nfa),
}

/// A Thompson NFA with prefilters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Nfa {
    states: Vec<State>,
    start: u32,
    /// Characters every match starts with / ends with (cheap rejections before simulating).
    prefix: String,
    suffix: String,
    /// Bit-parallel tables when `states.len() <= 64`.
    small: Option<SmallTables>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SmallTables {
    /// Closure of the start state, with `^` holding.
    start: u64,
    /// For each `Char` state, the closure of its `out` (with `^` failing).
    follow: Vec<u64>,
    /// Bit of the `Match` state.
    accept: u64,
    /// For each ASCII character, the `Char` states whose set contains it.
    by_ascii: Box<[u64; 128]>,
}

impl Program {
    /// Compiles parsed regex nodes (the body between act's `^` and `$`).
    pub fn compile(nodes: &[Node]) -> Program {
        let literal: Option<String> = nodes
            .iter()
            .map(|n| match n {
                Node::Char(CharSet::Lit(c)) => Some(*c),
                _ => None,
            })
            .collect();
        if let Some(text) = literal {
            return Program::Literal(text);
        }
        let mut states = vec![State::Match];
        let start = seq(&mut states, nodes, 0);
        let small = (states.len() <= 64).then(|| SmallTables::build(&states, start));
        let prefix = fixed_chars(nodes.iter());
        let suffix: String = fixed_chars(nodes.iter().rev()).chars().rev().collect();
        Program::Nfa(Nfa {
            states,
            start,
            prefix,
            suffix,
            small,
        })
    }

    /// Whether the whole of `value` matches.
    pub fn is_match(&self, value: &str) -> bool {
        match self {
            Program::Literal(text) => value == text,
            Program::Nfa(nfa) => nfa.is_match(value),
        }
    }
}

/// The literal characters at the front of `nodes` (as iterated) that every match must contain.
fn fixed_chars<'a>(nodes: impl Iterator<Item = &'a Node>) -> String {
    nodes
        .map_while(|n| match n {
            Node::Char(CharSet::Lit(c)) => Some(*c),
            _ => None,
        })
        .collect()
}

/// Compiles `nodes` so that they continue at state `next`; returns the entry state.
fn seq(states: &mut Vec<State>, nodes: &[Node], next: u32) -> u32 {
    nodes
        .iter()
        .rev()
        .fold(next, |next, node| one(states, node, next))
}

fn push(states: &mut Vec<State>, state: State) -> u32 {
    states.push(state);
    // A pattern long enough to overflow u32 states cannot be parsed from a workflow file.
    u32::try_from(states.len() - 1).unwrap_or(u32::MAX)
}

fn one(states: &mut Vec<State>, node: &Node, next: u32) -> u32 {
    match node {
        Node::Char(set) => push(
            states,
            State::Char {
                set: set.clone(),
                out: next,
            },
        ),
        Node::Begin => push(states, State::Begin(next)),
        Node::Group(inner) => seq(states, inner, next),
        Node::Repeat(inner, Repeat::Optional) => {
            let body = one(states, inner, next);
            push(states, State::Split(body, next))
        }
        Node::Repeat(inner, kind) => {
            // Star: loop → (body → loop | next), entered at the loop. Plus: entered at the body.
            let looped = push(states, State::Split(0, next));
            let body = one(states, inner, looped);
            states[looped as usize] = State::Split(body, next);
            if *kind == Repeat::Star {
                looped
            } else {
                body
            }
        }
    }
}

/// Adds the epsilon closure of `from` to `add` (called once per reached `Char`/`Match` state).
fn closure(
    states: &[State],
    from: u32,
    at_start: bool,
    seen: &mut [bool],
    add: &mut impl FnMut(u32),
) {
    let mut stack = vec![from];
    while let Some(s) = stack.pop() {
        let Some(seen_s) = seen.get_mut(s as usize) else {
            continue;
        };
        if std::mem::replace(seen_s, true) {
            continue;
        }
        match &states[s as usize] {
            State::Split(a, b) => stack.extend([*b, *a]),
            State::Begin(out) if at_start => stack.push(*out),
            State::Begin(_) => {}
            State::Char { .. } | State::Match => add(s),
        }
    }
}

impl SmallTables {
    fn build(states: &[State], start: u32) -> SmallTables {
        let mask = |from: u32, at_start: bool| {
            let mut bits = 0u64;
            let mut seen = vec![false; states.len()];
            closure(states, from, at_start, &mut seen, &mut |s| bits |= 1 << s);
            bits
        };
        let follow = states
            .iter()
            .map(|s| match s {
                State::Char { out, .. } => mask(*out, false),
                _ => 0,
            })
            .collect();
        let mut by_ascii = Box::new([0u64; 128]);
        for (i, state) in states.iter().enumerate() {
            match state {
                State::Char {
                    set: CharSet::Lit(l),
                    ..
                } if l.is_ascii() => {
                    by_ascii[*l as usize] |= 1 << i;
                }
                State::Char { set, .. } => {
                    for (c, bits) in (0u8..128).zip(by_ascii.iter_mut()) {
                        if set.contains(char::from(c)) {
                            *bits |= 1 << i;
                        }
                    }
                }
                _ => {}
            }
        }
        // State 0 is `Match`.
        SmallTables {
            start: mask(start, true),
            follow,
            accept: 1,
            by_ascii,
        }
    }
}

impl Nfa {
    fn is_match(&self, value: &str) -> bool {
        if !value.starts_with(&self.prefix) || !value.ends_with(&self.suffix) {
            return false;
        }
        match &self.small {
            Some(tables) => self.run_small(tables, value),
            None => self.run_sparse(value),
        }
    }

    fn run_small(&self, t: &SmallTables, value: &str) -> bool {
        let mut live = t.start;
        for c in value.chars() {
            let mut next = 0u64;
            let mut bits = match t.by_ascii.get(c as usize) {
                Some(states) => live & states,
                None => live & !t.accept,
            };
            while bits != 0 {
                let s = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let State::Char { set, .. } = &self.states[s] {
                    if c.is_ascii() || set.contains(c) {
                        next |= t.follow[s];
                    }
                }
            }
            if next == 0 {
                return false;
            }
            live = next;
        }
        live & t.accept != 0
    }

    fn run_sparse(&self, value: &str) -> bool {
        let n = self.states.len();
        let mut seen = vec![false; n];
        let mut live = Vec::with_capacity(n);
        closure(&self.states, self.start, true, &mut seen, &mut |s| {
            live.push(s)
        });
        let mut next = Vec::with_capacity(n);
        for c in value.chars() {
            seen.iter_mut().for_each(|b| *b = false);
            next.clear();
            for &s in &live {
                if let State::Char { set, out } = &self.states[s as usize] {
                    if set.contains(c) {
                        closure(&self.states, *out, false, &mut seen, &mut |t| next.push(t));
                    }
                }
            }
            if next.is_empty() {
                return false;
            }
            std::mem::swap(&mut live, &mut next);
        }
        live.contains(&0)
    }

    /// Whether the bit-parallel simulation applies (for tests).
    #[cfg(test)]
    pub fn is_small(&self) -> bool {
        self.small.is_some()
    }

    /// Runs the general simulation even where the bit-parallel one applies (for tests).
    #[cfg(test)]
    pub fn is_match_sparse(&self, value: &str) -> bool {
        self.run_sparse(value)
    }
}
