//! sortie-testkit: test-only helpers — fake forges, a moto server, PostgreSQL databases, and
//! waiting on conditions with a deadline.

pub mod forge;
pub mod moto;
pub mod postgres;
pub mod wait;

pub use wait::eventually;
