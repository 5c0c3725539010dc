//! Evaluates a syntax tree against the plan-time context.
//!
//! Operator semantics mirror actions/runner `src/Sdk/DTExpressions2/Expressions2/Sdk/Operators/`
//! (`And.cs`, `Or.cs`, `Not.cs`, `Equal.cs`, …, `Index.cs`) and actions/languageservices
//! `expressions/src/evaluator.ts`.

use super::funcs;
use super::parser::{Ast, BinOp};
use super::value::{lookup, loose_cmp, loose_eq, Val};
use std::cmp::Ordering;
use std::rc::Rc;

/// What an expression can see when sortie plans: the job's matrix combination.
pub(crate) struct Scope {
    pub(crate) matrix: Val,
}

impl Scope {
    /// Evaluates `ast`; the error says what could not be evaluated and why.
    pub(crate) fn eval(&self, ast: &Ast) -> Result<Val, String> {
        match ast {
            Ast::Lit(v) => Ok(v.clone()),
            Ast::Matrix => Ok(self.matrix.clone()),
            Ast::RuntimeContext(name) => Err(runtime_context(name)),
            Ast::Not(inner) => Ok(Val::Bool(!self.eval(inner)?.is_truthy())),
            Ast::Binary(op, l, r) => {
                let (l, r) = (self.eval(l)?, self.eval(r)?);
                Ok(Val::Bool(compare(*op, &l, &r)))
            }
            Ast::Logical(and, args) => self.logical(*and, args),
            Ast::Index(obj, index) => {
                let obj = self.eval(obj)?;
                let index = match index {
                    Some(ix) => Some(self.eval(ix)?),
                    None => None,
                };
                Ok(index_into(&obj, index.as_ref()))
            }
            Ast::Call(func, args) => funcs::call(self, *func, args),
        }
    }

    /// `&&` returns the first falsy operand (or the last), `||` the first truthy operand (or the
    /// last), evaluating no further: the `cond && 'a' || 'b'` idiom.
    fn logical(&self, and: bool, args: &[Ast]) -> Result<Val, String> {
        let mut result = Val::Null;
        for arg in args {
            result = self.eval(arg)?;
            if result.is_truthy() != and {
                break;
            }
        }
        Ok(result)
    }
}

fn runtime_context(name: &str) -> String {
    format!(
        "the `{name}` context is only known when the workflow runs, so sortie cannot evaluate it while planning; only `matrix` values are known before a job starts. Use literal labels or `matrix` values where sortie must read them (runs-on, job names)"
    )
}

/// `<=` is `== || <` and `>=` is `== || >`, exactly as GitHub defines them (so `null <= 0`).
fn compare(op: BinOp, l: &Val, r: &Val) -> bool {
    let ord = loose_cmp(l, r);
    match op {
        BinOp::Eq => loose_eq(l, r),
        BinOp::Ne => !loose_eq(l, r),
        BinOp::Lt => ord == Some(Ordering::Less),
        BinOp::Gt => ord == Some(Ordering::Greater),
        BinOp::Le => loose_eq(l, r) || ord == Some(Ordering::Less),
        BinOp::Ge => loose_eq(l, r) || ord == Some(Ordering::Greater),
    }
}

/// An index as GitHub reads it: a number (floored, non-negative, at most `Int32.MaxValue`)
/// for arrays, a string for objects; `None` for `*`.
struct IndexKey {
    int: Option<usize>,
    str: Option<String>,
}

impl IndexKey {
    fn new(index: &Val) -> IndexKey {
        let n = index.to_number();
        let int = (!n.is_nan() && n >= 0.0 && n.floor() <= f64::from(i32::MAX))
            // The range check makes the conversion exact.
            .then(|| n.floor() as usize);
        let str = index.is_primitive().then(|| index.to_display());
        IndexKey { int, str }
    }

    fn in_array<'a>(&self, items: &'a [Val]) -> Option<&'a Val> {
        self.int.and_then(|i| items.get(i))
    }

    fn in_object<'a>(&self, pairs: &'a [(String, Val)]) -> Option<&'a Val> {
        self.str.as_deref().and_then(|k| lookup(pairs, k))
    }
}

/// actions/runner `Sdk/Operators/Index.cs`: missing properties and out-of-range indexes give
/// null; `*` turns an array or an object's values into a filtered array; indexing a filtered
/// array applies the index to each element and keeps what is found.
fn index_into(obj: &Val, index: Option<&Val>) -> Val {
    let key = index.map(IndexKey::new);
    let filtered = |items: Vec<Val>| Val::Filtered(Rc::new(items));
    match (obj, &key) {
        (Val::Filtered(items), _) => filtered(
            items
                .iter()
                .flat_map(|item| filter_step(item, key.as_ref()))
                .collect(),
        ),
        (Val::Array(items), None) => filtered(items.to_vec()),
        (Val::Object(pairs), None) => filtered(pairs.iter().map(|(_, v)| v.clone()).collect()),
        (Val::Array(items), Some(k)) => k.in_array(items).cloned().unwrap_or(Val::Null),
        (Val::Object(pairs), Some(k)) => k.in_object(pairs).cloned().unwrap_or(Val::Null),
        (_, None) => filtered(Vec::new()),
        (_, Some(_)) => Val::Null,
    }
}

fn filter_step(item: &Val, key: Option<&IndexKey>) -> Vec<Val> {
    match (item, key) {
        (Val::Object(pairs), None) => pairs.iter().map(|(_, v)| v.clone()).collect(),
        (Val::Object(pairs), Some(k)) => k.in_object(pairs).cloned().into_iter().collect(),
        (Val::Array(items) | Val::Filtered(items), None) => items.to_vec(),
        (Val::Array(items) | Val::Filtered(items), Some(k)) => {
            k.in_array(items).cloned().into_iter().collect()
        }
        _ => Vec::new(),
    }
}
