//! sortie-store: durable deliveries, jobs, instances, leases (STUB).
