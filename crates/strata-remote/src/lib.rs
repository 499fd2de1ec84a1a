//! The registry side of Strata: a client for the OCI distribution API and Docker Hub,
//! and the pipelines that move images between registries and the local store.
//!
//! * [`config`]: where files live, insecure registries, mirrors, CAs, retries.
//! * [`auth`]: credentials (Strata's file, Docker's `config.json`, credential helpers),
//!   `WWW-Authenticate` challenges and token responses.
//! * [`client`]: [`Client`]: ping, auth, redirects, retries; manifests, blobs, uploads,
//!   tags, catalog and search.
//! * [`pull`] / [`push`]: registry ⇄ store, with progress as [`event::Event`]s.
//! * [`copy`]: registry, OCI layout and OCI archive to each other without the store.

pub mod auth;
pub mod client;
pub mod config;
pub mod copy;
pub mod error;
pub mod event;
pub mod pull;
pub mod push;

pub use auth::{AuthFiles, Credentials};
pub use client::{Client, FetchedManifest, SearchResult};
pub use config::ClientConfig;
pub use error::{RemoteError, Result};
pub use event::{Event, Status};
pub use pull::{pull, LayerTap, PullOptions, PullResult};
pub use push::{push, PushOptions, PushResult};
