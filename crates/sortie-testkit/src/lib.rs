//! sortie-testkit: test-only helpers — fake forges, a moto server, PostgreSQL databases.

pub mod forge;
pub mod moto;
pub mod postgres;
