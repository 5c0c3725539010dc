//! Starts a moto server on loopback for tests (STUB).
