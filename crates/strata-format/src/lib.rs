//! Docker-compatible output formatting shared by every `strata` command.
//!
//! - [`template`]: a Go `text/template` engine over `serde_json::Value`
//!   with Docker's template functions.
//! - [`table`]: Docker's `--format` handling (`table`, `json`, templates)
//!   and its tabwriter (minwidth 10, padding 3).
//! - [`tabwriter`]: Go `text/tabwriter` elastic tabstops.
//! - [`human`]: sizes (`72.9MB`), ages (`3 weeks ago`), `Ellipsis`, short
//!   IDs and Go's `Time.String()` (including Go's local-zone rules).
//! - [`gojson`]: JSON encoding with Go `encoding/json` output rules.
//! - [`gofmt`]: Go `fmt` printing (`%v`, `Sprintf`) of JSON values.
//!
//! Behaviour was checked against Docker CLI 28.2.2 (`tests/docker_oracle.rs`
//! holds the captured cases).

pub mod gofmt;
pub mod gojson;
pub mod human;
pub mod table;
pub mod tabwriter;
pub mod template;
mod zone;

pub use table::{render, render_as, render_with, OutputFormat};
pub use tabwriter::{docker_tabwrite, tabwrite, TabWriterConfig};
pub use template::{MissingKey, Template, TemplateError, TemplateErrorKind};
