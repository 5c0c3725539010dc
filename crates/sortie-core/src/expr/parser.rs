//! Recursive-descent parser: tokens → syntax tree.
//!
//! Precedence, highest first, as documented in GitHub's "Evaluate expressions in workflows and
//! actions" (Operators) and implemented by actions/languageservices `expressions/src/parser.ts`:
//! `( )`, `[ ]`, `.`, `!`, `< <= > >=`, `== !=`, `&&`, `||`. Indexing applies only to a
//! grouping, a function call or a context (`'abc'[0]` is a syntax error). Named values and
//! function names are checked here, as GitHub does when it reads the workflow.

use super::lexer::{Tok, Token};
use super::value::Val;

/// GitHub's limit on nesting (`ExpressionConstants.MaxDepth`, `MAX_PARSER_DEPTH`).
pub(crate) const MAX_DEPTH: usize = 50;

/// Contexts GitHub knows but whose values exist only while a workflow runs.
const RUNTIME_CONTEXTS: &[&str] = &[
    "github", "env", "vars", "job", "jobs", "steps", "runner", "secrets", "strategy", "needs",
    "inputs",
];

/// A binary comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A function, with its arity limits (actions/runner `ExpressionConstants.WellKnownFunctions`,
/// actions/languageservices `expressions/src/funcs.ts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Contains,
    StartsWith,
    EndsWith,
    Format,
    Join,
    ToJson,
    FromJson,
    Case,
    /// `hashFiles`, `success`, `always`, `cancelled`, `failure`: only meaningful on a runner.
    RuntimeOnly(&'static str),
}

impl Func {
    fn by_name(name: &str) -> Option<(Func, usize, usize)> {
        const MANY: usize = 255;
        Some(match name.to_ascii_lowercase().as_str() {
            "contains" => (Func::Contains, 2, 2),
            "startswith" => (Func::StartsWith, 2, 2),
            "endswith" => (Func::EndsWith, 2, 2),
            "format" => (Func::Format, 1, MANY),
            "join" => (Func::Join, 1, 2),
            "tojson" => (Func::ToJson, 1, 1),
            "fromjson" => (Func::FromJson, 1, 1),
            "case" => (Func::Case, 3, MANY),
            "hashfiles" => (Func::RuntimeOnly("hashFiles"), 1, MANY),
            "success" => (Func::RuntimeOnly("success"), 0, 0),
            "always" => (Func::RuntimeOnly("always"), 0, 0),
            "cancelled" => (Func::RuntimeOnly("cancelled"), 0, 0),
            "failure" => (Func::RuntimeOnly("failure"), 0, 0),
            _ => return None,
        })
    }
}

/// The syntax tree.
#[derive(Debug, Clone)]
pub(crate) enum Ast {
    Lit(Val),
    /// `matrix`: the only context known at plan time.
    Matrix,
    /// A context that exists only at run time; evaluating it fails, naming it.
    RuntimeContext(String),
    /// `obj[index]`, `obj.name` (index is the name as a string) or `obj.*` / `obj[*]` (`None`).
    Index(Box<Ast>, Option<Box<Ast>>),
    Not(Box<Ast>),
    Binary(BinOp, Box<Ast>, Box<Ast>),
    /// `&&` (true) or `||` (false) over two or more operands, flattened as GitHub does.
    Logical(bool, Vec<Ast>),
    Call(Func, Vec<Ast>),
}

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    depth: usize,
    input: &'a str,
}

/// Parses tokens into one expression, or explains the syntax error.
pub(crate) fn parse(tokens: &[Token], input: &str) -> Result<Ast, String> {
    if tokens.is_empty() {
        return Err("the expression is empty; write one between `${{` and `}}`".into());
    }
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
        input,
    };
    let ast = parser.expression()?;
    if let Some(extra) = parser.peek() {
        return Err(parser.unexpected(extra));
    }
    if tree_depth(&ast, 1) > MAX_DEPTH {
        return Err(too_deep());
    }
    Ok(ast)
}

fn too_deep() -> String {
    format!("the expression nests more than {MAX_DEPTH} levels deep, GitHub's limit; simplify it")
}

/// Depth of the tree as actions/runner `ExpressionParser.CheckMaxDepth` counts it, stopping
/// as soon as the limit is passed.
fn tree_depth(ast: &Ast, depth: usize) -> usize {
    if depth > MAX_DEPTH {
        return depth;
    }
    let children: Vec<&Ast> = match ast {
        Ast::Lit(_) | Ast::Matrix | Ast::RuntimeContext(_) => Vec::new(),
        Ast::Index(obj, idx) => std::iter::once(&**obj).chain(idx.as_deref()).collect(),
        Ast::Not(inner) => vec![&**inner],
        Ast::Binary(_, l, r) => vec![&**l, &**r],
        Ast::Logical(_, args) | Ast::Call(_, args) => args.iter().collect(),
    };
    children
        .into_iter()
        .map(|c| tree_depth(c, depth + 1))
        .max()
        .unwrap_or(depth)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn check(&self, tok: &Tok) -> bool {
        self.peek().is_some_and(|t| &t.tok == tok)
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        let hit = self.check(tok);
        if hit {
            self.at += 1;
        }
        hit
    }

    fn unexpected(&self, token: &Token) -> String {
        format!(
            "unexpected symbol `{}` at position {} of `{}`",
            token.text, token.pos, self.input
        )
    }

    fn unexpected_here(&self) -> String {
        match self.peek() {
            Some(token) => self.unexpected(token),
            None => format!(
                "`{}` ends too early; it is missing an operand or a closing bracket",
                self.input
            ),
        }
    }

    fn expect(&mut self, tok: &Tok) -> Result<(), String> {
        if self.eat(tok) {
            Ok(())
        } else {
            Err(self.unexpected_here())
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(too_deep());
        }
        Ok(())
    }

    fn expression(&mut self) -> Result<Ast, String> {
        self.enter()?;
        let result = self.logical(false);
        self.depth -= 1;
        result
    }

    /// `||` (and = false) over `&&` (and = true) over equality.
    fn logical(&mut self, and: bool) -> Result<Ast, String> {
        let op = if and { Tok::And } else { Tok::Or };
        let operand = |p: &mut Self| if and { p.binary(true) } else { p.logical(true) };
        let first = operand(self)?;
        if !self.check(&op) {
            return Ok(first);
        }
        let mut args = vec![first];
        while self.eat(&op) {
            args.push(operand(self)?);
        }
        Ok(Ast::Logical(and, args))
    }

    /// `== !=` (equality = true) over `< <= > >=` over unary. A chain nests to the left, so
    /// each operator counts against the depth limit (the exact tree depth is checked after
    /// parsing).
    fn binary(&mut self, equality: bool) -> Result<Ast, String> {
        let operand = |p: &mut Self| if equality { p.binary(false) } else { p.unary() };
        let mut left = operand(self)?;
        let mut chain = 0;
        while let Some(op) = self.peek().and_then(|t| bin_op(&t.tok, equality)) {
            self.at += 1;
            chain += 1;
            self.check_chain(chain)?;
            let right = operand(self)?;
            left = Ast::Binary(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn check_chain(&self, chain: usize) -> Result<(), String> {
        if self.depth + chain > MAX_DEPTH {
            return Err(too_deep());
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Ast, String> {
        if !self.eat(&Tok::Not) {
            return self.postfix();
        }
        self.enter()?;
        let inner = self.unary();
        self.depth -= 1;
        Ok(Ast::Not(Box::new(inner?)))
    }

    /// A primary expression and, when it can be indexed, its `[…]` and `.name` suffixes.
    fn postfix(&mut self) -> Result<Ast, String> {
        let (mut expr, indexable) = self.primary()?;
        if !indexable {
            return Ok(expr);
        }
        let mut chain = 0;
        loop {
            let index = if self.eat(&Tok::LBracket) {
                let index = if self.eat(&Tok::Star) {
                    None
                } else {
                    Some(Box::new(self.expression()?))
                };
                self.expect(&Tok::RBracket)?;
                index
            } else if self.eat(&Tok::Dot) {
                self.property()?
            } else {
                break;
            };
            chain += 1;
            self.check_chain(chain)?;
            expr = Ast::Index(Box::new(expr), index);
        }
        Ok(expr)
    }

    /// After `.`: a property name or `*`.
    fn property(&mut self) -> Result<Option<Box<Ast>>, String> {
        match self.peek().map(|t| t.tok.clone()) {
            Some(Tok::Star) => {
                self.at += 1;
                Ok(None)
            }
            Some(Tok::Ident(name)) => {
                self.at += 1;
                Ok(Some(Box::new(Ast::Lit(Val::Str(name)))))
            }
            _ => Err(self.unexpected_here()),
        }
    }

    /// Returns the expression and whether `[…]` / `.` may follow it.
    fn primary(&mut self) -> Result<(Ast, bool), String> {
        let Some(token) = self.peek().cloned() else {
            return Err(self.unexpected_here());
        };
        self.at += 1;
        let lit = match token.tok.clone() {
            Tok::Null => Val::Null,
            Tok::True => Val::Bool(true),
            Tok::False => Val::Bool(false),
            Tok::Num(n) => Val::Num(n),
            Tok::Str(s) => Val::Str(s),
            Tok::LParen => {
                let inner = self.expression()?;
                self.expect(&Tok::RParen)?;
                return Ok((inner, true));
            }
            Tok::Ident(name) if self.eat(&Tok::LParen) => return self.call(&name, &token),
            Tok::Ident(name) => return Ok((self.named_value(&name, &token)?, true)),
            _ => return Err(self.unexpected(&token)),
        };
        Ok((Ast::Lit(lit), false))
    }

    fn named_value(&self, name: &str, token: &Token) -> Result<Ast, String> {
        let lower = name.to_ascii_lowercase();
        if lower == "matrix" {
            Ok(Ast::Matrix)
        } else if RUNTIME_CONTEXTS.contains(&lower.as_str()) {
            Ok(Ast::RuntimeContext(lower))
        } else {
            Err(format!(
                "unrecognized named-value `{name}` at position {} of `{}`; the contexts are github, env, vars, job, jobs, steps, runner, secrets, strategy, matrix, needs and inputs",
                token.pos, self.input
            ))
        }
    }

    fn call(&mut self, name: &str, token: &Token) -> Result<(Ast, bool), String> {
        let Some((func, min, max)) = Func::by_name(name) else {
            return Err(format!(
                "unrecognized function `{name}` at position {} of `{}`",
                token.pos, self.input
            ));
        };
        let mut args = Vec::new();
        while !self.eat(&Tok::RParen) {
            args.push(self.expression()?);
            if !self.check(&Tok::RParen) {
                self.expect(&Tok::Comma)?;
            }
        }
        let count = args.len();
        if count < min || count > max || (func == Func::Case && count % 2 == 0) {
            return Err(arity_error(name, count, min, max));
        }
        Ok((Ast::Call(func, args), true))
    }
}

fn arity_error(name: &str, count: usize, min: usize, max: usize) -> String {
    let wanted = match (min, max) {
        (3, 255) => "an odd number of arguments, at least 3".to_string(),
        (a, b) if a == b => format!("{a}"),
        (a, 255) => format!("at least {a}"),
        (a, b) => format!("{a} to {b}"),
    };
    format!("`{name}()` takes {wanted} argument(s) but was given {count}")
}

fn bin_op(tok: &Tok, equality: bool) -> Option<BinOp> {
    match (tok, equality) {
        (Tok::Eq, true) => Some(BinOp::Eq),
        (Tok::Ne, true) => Some(BinOp::Ne),
        (Tok::Lt, false) => Some(BinOp::Lt),
        (Tok::Le, false) => Some(BinOp::Le),
        (Tok::Gt, false) => Some(BinOp::Gt),
        (Tok::Ge, false) => Some(BinOp::Ge),
        _ => None,
    }
}
