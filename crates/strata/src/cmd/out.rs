//! Output helpers shared by the commands: Docker's `--format` handling on top of
//! `strata-format`, plain column layout, and Docker's indented JSON.

use serde::Serialize;
use serde_json::Value;
pub use strata_format::table::OutputFormat;
use strata_format::template::Template;

/// Parses a Go template (for `inspect --format`).
pub fn template(src: &str) -> anyhow::Result<Template> {
    Ok(Template::parse(src)?)
}

/// Renders rows with a format; `headers` maps field names to column titles.
pub fn render(
    format: &OutputFormat,
    rows: &[Value],
    headers: &[(&str, &str)],
) -> anyhow::Result<String> {
    let map: std::collections::HashMap<&str, &str> = headers.iter().copied().collect();
    Ok(strata_format::table::render(format, rows, &map)?)
}

/// Lays out rows of cells in columns the way Docker's tabwriter does (min width 10,
/// padding 3).
pub fn columns(lines: &[Vec<String>]) -> String {
    let text: String = lines.iter().map(|l| l.join("\t") + "\n").collect();
    strata_format::docker_tabwrite(&text)
}

/// Docker's indented JSON (4 spaces, HTML characters escaped as Go does).
pub fn pretty_json(v: &Value) -> anyhow::Result<String> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    v.serialize(&mut ser)?;
    let s = String::from_utf8(buf)?;
    Ok(s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026"))
}
