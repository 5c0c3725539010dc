//! sortie-provider: machines for jobs (STUB).
