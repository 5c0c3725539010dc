//! Gives each test its own PostgreSQL database or schema (STUB).
