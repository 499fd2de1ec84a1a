//! Output helpers shared by the commands: Docker's `--format` handling on top of
//! `strata-format`, plain column layout, and Docker's indented JSON.

use serde_json::Value;
pub use strata_format::table::OutputFormat;
use strata_format::template::Template;

/// Parses a Go template (for `inspect --format`).
pub fn template(src: &str) -> anyhow::Result<Template> {
    Ok(Template::parse(src)?)
}

/// Renders rows with a format; `headers` maps field names to column titles. Each row
/// behaves like Docker's Go formatter context `go_type` (so an unknown field is Docker's
/// `can't evaluate field X in type *formatter.imageContext`). Template errors print as
/// Docker prints them, without an `Error:` prefix, and exit 1.
pub fn render(
    format: &OutputFormat,
    rows: &[Value],
    headers: &[(&str, &str)],
    go_type: &str,
) -> anyhow::Result<String> {
    let map: std::collections::HashMap<&str, &str> = headers.iter().copied().collect();
    strata_format::table::render_as(format, rows, &map, go_type)
        .map_err(|e| super::exit(1, e.to_string()))
}

/// Lays out rows of cells in columns the way Docker's tabwriter does (min width 10,
/// padding 3).
pub fn columns(lines: &[Vec<String>]) -> String {
    let text: String = lines.iter().map(|l| l.join("\t") + "\n").collect();
    strata_format::docker_tabwrite(&text)
}

/// Docker's indented JSON (4 spaces, HTML characters escaped as Go does).
pub fn pretty_json(v: &Value) -> anyhow::Result<String> {
    let opts = strata_format::gojson::GoJsonOptions {
        escape_html: true,
        sort_keys: false,
    };
    Ok(strata_format::gojson::to_go_json_indent(
        v, "", "    ", opts,
    ))
}
