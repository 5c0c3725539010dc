//! `strategy.matrix` expansion with GitHub's `include` / `exclude` rules.
//!
//! STUB: the implementation is being written; the public types below are the contract.

use crate::workflow::MatrixDef;
use serde_json::{Map, Value};

/// One expanded matrix combination, keys in definition order.
pub type Combination = Map<String, Value>;

/// Why a matrix could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MatrixError(pub String);

/// Expands a matrix into its combinations, in the order GitHub runs them.
pub fn expand(def: &MatrixDef) -> Result<Vec<Combination>, MatrixError> {
    match def {
        MatrixDef::Expr(e) => Err(MatrixError(format!("matrix is an expression ({e}) that can only be evaluated when the workflow runs"))),
        MatrixDef::Literal { .. } => Ok(vec![Map::new()]),
    }
}
