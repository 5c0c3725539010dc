//! sortie-forge: GitHub and Gitea/Forgejo APIs behind one `Forge` trait (being built).
