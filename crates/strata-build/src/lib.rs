//! `strata build`: Docker's classic builder (`DOCKER_BUILDKIT=0`), daemonless.
//!
//! * [`dockerfile`]: the parser (directives, comments, continuations, JSON and shell
//!   forms, flags).
//! * [`shell`]: variable substitution and quote removal in the instructions Docker
//!   substitutes.
//! * [`ignore`]: the rules of `.dockerignore`.
//! * [`context`]: COPY/ADD sources, their content hash, and the tar of what is copied.
//! * [`config`]: the execution config in Docker's shape, and Go's formatting of history.
//! * [`run`]: RUN in new user, mount and pid namespaces, chrooted into the tree.
//! * [`cache`]: the build cache (` ---> Using cache`).
//! * [`builder`]: the steps, the trees, the layers and the image.
//!
//! Each stage's root filesystem starts from the base image's snapshot in the chain-ID
//! layer cache (`strata_rootfs::image::snapshot`), each step that changes files becomes
//! a reproducible gzip layer (`strata_rootfs::diff::write_layer`), and the image (config,
//! history, manifest) goes into the store under a lease, so a failed build leaves the
//! store as it was. See `docs/BUILD.md`.

pub mod builder;
pub mod cache;
pub mod config;
pub mod context;
pub mod dockerfile;
pub mod ignore;
pub mod run;
pub mod shell;

pub use builder::{build, BuildOptions, BuildOutput};

/// A build failure. `Step` and `Parse` carry Docker's wording; the CLI prints them as
/// they are.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile does not parse.
    #[error("{0}")]
    Parse(#[from] dockerfile::ParseError),
    /// A step failed (Docker's message, e.g. `COPY failed: …`, `The command … returned a
    /// non-zero code: 3`).
    #[error("{0}")]
    Step(String),
    /// RUN could not be started.
    #[error(transparent)]
    Run(#[from] run::RunError),
    /// The store.
    #[error(transparent)]
    Store(#[from] strata_store::StoreError),
    /// Unpacking or diffing a tree.
    #[error(transparent)]
    Rootfs(#[from] strata_rootfs::RootfsError),
}
