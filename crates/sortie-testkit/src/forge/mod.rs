//! Fake GitHub and Gitea/Forgejo HTTP servers (being built).
