//! Workflow files and commit ids shared by the push-mode tests (sortie-forge's client, the
//! server's planner, `sortie plan --from-forge`, the Lambda tests), so one text serves them all.

/// Commit ids of a repository's history in the fakes.
pub const C0: &str = "c000000000000000000000000000000000000000";
/// The second commit.
pub const C1: &str = "c100000000000000000000000000000000000000";
/// The third commit.
pub const C2: &str = "c200000000000000000000000000000000000000";
/// The all-zero id a forge sends as `before` for a new branch.
pub const ZERO: &str = "0000000000000000000000000000000000000000";

/// `build` on `go` plus a matrix over runners, only when something under `src/` changed.
pub const BUILD_SRC: &str = "name: build
on:
  push:
    branches: [main]
    paths: ['src/**']
jobs:
  build:
    runs-on: go
    steps:
      - run: make
  test:
    strategy:
      matrix:
        runner: [go, docker]
    runs-on: ${{ matrix.runner }}
    steps:
      - run: make test
";

/// One `lint` job on `node`, on pushes to `main`.
pub const LINT: &str = "on:
  push:
    branches: [main]
jobs:
  lint:
    runs-on: node
    steps:
      - run: npm run lint
";

/// One `deploy` job on tags `v*`.
pub const RELEASE: &str = "on:
  push:
    tags: ['v*']
jobs:
  deploy:
    runs-on: deploy
    steps:
      - run: ./deploy
";

/// A job on a label nobody serves.
pub const GPU: &str = "on:
  push:
    branches: [main]
jobs:
  train:
    runs-on: no-such-label-anywhere
    steps:
      - run: ./train
";

/// Not YAML.
pub const BROKEN: &str = "on: [push\njobs: {";
