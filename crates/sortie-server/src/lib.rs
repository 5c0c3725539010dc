//! sortie-server: the axum app, ingest, admin API, dispatcher and sweeper loops (being built).
