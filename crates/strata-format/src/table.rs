//! Docker's `--format` handling for list commands (`docker/cli`'s
//! `formatter.Context`): `table` (default or custom, with a header row and
//! tabwriter alignment), `json` (one `{{json .}}` object per line) and bare
//! Go templates (one rendering per row, each followed by a newline).
//!
//! Rows are JSON objects treated like Docker's formatter contexts: their
//! `{{json .}}` form has sorted keys and HTML-escaped `<`, `>`, `&`
//! (`"\u003cnone\u003e"`), as Docker's `MarshalJSON` produces.

use crate::tabwriter::docker_tabwrite;
use crate::template::{ExecOpts, FuncMode, Template, TemplateError};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// A parsed `--format` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputFormat {
    /// A table: the template after the `table` prefix. [`OutputFormat::parse`]
    /// always fills it in (with the command's default for plain `table`);
    /// `None` renders like an empty template.
    Table(Option<String>),
    /// `json`: each row as `{{json .}}` on its own line.
    Json,
    /// A bare template, rendered once per row followed by a newline.
    Template(String),
}

/// Docker's format keyword for tables.
pub const TABLE_FORMAT_KEY: &str = "table";
/// Docker's format keyword for JSON lines.
pub const JSON_FORMAT_KEY: &str = "json";

impl OutputFormat {
    /// Interprets a `--format` flag value the way Docker's list commands do:
    /// absent, empty or `table` → the command's default table;
    /// `table TEMPLATE` (any value starting with `table`) → custom table;
    /// `json` → JSON lines; anything else → bare template.
    ///
    /// `default_table_template` may be given with or without its leading
    /// `table` keyword (e.g. `"table {{.ID}}\t{{.Size}}"` or `"{{.ID}}\t{{.Size}}"`).
    pub fn parse(format: Option<&str>, default_table_template: &str) -> OutputFormat {
        match format {
            None | Some("") | Some(TABLE_FORMAT_KEY) => {
                let d = default_table_template
                    .strip_prefix(TABLE_FORMAT_KEY)
                    .unwrap_or(default_table_template);
                OutputFormat::Table(Some(d.to_string()))
            }
            Some(JSON_FORMAT_KEY) => OutputFormat::Json,
            Some(f) if f.starts_with(TABLE_FORMAT_KEY) => {
                OutputFormat::Table(Some(f[TABLE_FORMAT_KEY.len()..].to_string()))
            }
            Some(f) => OutputFormat::Template(f.to_string()),
        }
    }

    /// True for table formats (header row + alignment).
    pub fn is_table(&self) -> bool {
        matches!(self, OutputFormat::Table(_))
    }

    /// True for `json`.
    pub fn is_json(&self) -> bool {
        matches!(self, OutputFormat::Json)
    }

    /// The template text Docker would execute: the table prefix removed,
    /// surrounding spaces trimmed and the two-character sequences `\t` and
    /// `\n` turned into a tab and a newline.
    pub fn template_text(&self) -> String {
        let raw = match self {
            OutputFormat::Table(t) => t.as_deref().unwrap_or(""),
            OutputFormat::Json => "{{json .}}",
            OutputFormat::Template(t) => t.as_str(),
        };
        raw.trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n")
    }

    /// Parses the template this format executes (errors read
    /// `template parsing error: template: :1: …`).
    pub fn compile(&self) -> Result<Template, TemplateError> {
        Template::parse(&self.template_text())
    }
}

/// Renders `rows` in `format`.
///
/// For tables the header row is the template executed over an object mapping
/// each field name to its column header (`headers`, e.g. `"ID" → "IMAGE ID"`)
/// using Docker's header functions (`json`, `split`, `join`, `title`, `lower`,
/// `upper`, `truncate` leave the header text unchanged); header errors are
/// ignored like Docker does, keeping what was produced. Header and rows then
/// go through the tabwriter (minwidth 10, padding 3). The header is printed
/// even when there are no rows.
///
/// Rows behave like Go maps here: an unknown field prints `<no value>`.
/// Use [`render_as`] for Docker's exact behaviour with its context types.
pub fn render(
    format: &OutputFormat,
    rows: &[Value],
    headers: &HashMap<&str, &str>,
) -> Result<String, TemplateError> {
    render_impl(format, rows, headers, None)
}

/// Like [`render`], but each row behaves like Docker's Go formatter context
/// of type `go_type` (e.g. `"*formatter.imageContext"`): an unknown field
/// fails with `can't evaluate field Nope in type *formatter.imageContext`,
/// field values are concrete (`can't evaluate field X in type string`), and
/// an object member `Label` (labels by key) backs the `{{.Label "key"}}`
/// method while staying out of `{{json .}}`.
pub fn render_as(
    format: &OutputFormat,
    rows: &[Value],
    headers: &HashMap<&str, &str>,
    go_type: &str,
) -> Result<String, TemplateError> {
    render_impl(format, rows, headers, Some(go_type))
}

fn render_impl(
    format: &OutputFormat,
    rows: &[Value],
    headers: &HashMap<&str, &str>,
    go_type: Option<&str>,
) -> Result<String, TemplateError> {
    let tmpl = format.compile()?;
    let mut body = String::new();
    for row in rows {
        let opts = ExecOpts {
            mode: FuncMode::Normal,
            context_root: Some(row),
            context_type: go_type,
        };
        let (out, err) = tmpl.execute_with(row, &opts);
        if let Some(e) = err {
            return Err(e);
        }
        body.push_str(&out);
        body.push('\n');
    }
    if !format.is_table() {
        return Ok(body);
    }
    let header_ctx: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
        .collect();
    let header_ctx = Value::Object(header_ctx);
    let opts = ExecOpts {
        mode: FuncMode::Header,
        context_root: None,
        context_type: None,
    };
    let (header, _ignored) = tmpl.execute_with(&header_ctx, &opts);
    let mut all = header;
    all.push('\n');
    all.push_str(&body);
    Ok(docker_tabwrite(&all))
}

/// Like [`render`], with headers computed from field names by `header`.
/// Only fields referenced by the template need an answer; return the
/// header text for a field name.
pub fn render_with<F>(
    format: &OutputFormat,
    rows: &[Value],
    header: F,
) -> Result<String, TemplateError>
where
    F: Fn(&str) -> Option<String>,
{
    let mut names: Vec<String> = Vec::new();
    for row in rows {
        if let Value::Object(m) = row {
            for k in m.keys() {
                if !names.contains(k) {
                    names.push(k.clone());
                }
            }
        }
    }
    // Field names referenced in the template text (".Name" tokens).
    let text = format.template_text();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'.' {
            let start = i + 1;
            let mut j = start;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                j += 1;
            }
            if j > start {
                let name = &text[start..j];
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_string());
                }
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    let owned: Vec<(String, String)> = names
        .into_iter()
        .filter_map(|n| header(&n).map(|h| (n, h)))
        .collect();
    let map: HashMap<&str, &str> = owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    render(format, rows, &map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const IMAGES_DEFAULT: &str =
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

    fn headers() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("Repository", "REPOSITORY"),
            ("Tag", "TAG"),
            ("ID", "IMAGE ID"),
            ("CreatedSince", "CREATED"),
            ("Size", "SIZE"),
        ])
    }

    fn rows() -> Vec<Value> {
        vec![
            json!({"Repository": "busybox", "Tag": "latest", "ID": "a416a98b71e2", "CreatedSince": "2 weeks ago", "Size": "4.26MB"}),
            json!({"Repository": "<none>", "Tag": "<none>", "ID": "0123456789ab", "CreatedSince": "3 years ago", "Size": "124MB"}),
        ]
    }

    #[test]
    fn parse_formats() {
        assert_eq!(
            OutputFormat::parse(None, IMAGES_DEFAULT),
            OutputFormat::Table(Some(
                " {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".into()
            ))
        );
        assert_eq!(
            OutputFormat::parse(Some("table"), "{{.ID}}"),
            OutputFormat::Table(Some("{{.ID}}".into()))
        );
        assert_eq!(
            OutputFormat::parse(Some("table {{.ID}}"), IMAGES_DEFAULT),
            OutputFormat::Table(Some(" {{.ID}}".into()))
        );
        assert_eq!(
            OutputFormat::parse(Some("json"), IMAGES_DEFAULT),
            OutputFormat::Json
        );
        assert_eq!(
            OutputFormat::parse(Some("{{.ID}}"), IMAGES_DEFAULT),
            OutputFormat::Template("{{.ID}}".into())
        );
        assert!(OutputFormat::parse(Some("tablefoo"), "").is_table());
    }

    #[test]
    fn escapes_in_template_text() {
        let f = OutputFormat::parse(Some(r"table {{.ID}}\t{{.Size}}\n"), "");
        assert_eq!(f.template_text(), "{{.ID}}\t{{.Size}}\n");
        let f = OutputFormat::Template("  {{.ID}}  ".into());
        assert_eq!(f.template_text(), "{{.ID}}");
    }

    #[test]
    fn default_table() {
        let f = OutputFormat::parse(None, IMAGES_DEFAULT);
        let out = render(&f, &rows(), &headers()).unwrap();
        assert_eq!(
            out,
            "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n\
             busybox      latest    a416a98b71e2   2 weeks ago   4.26MB\n\
             <none>       <none>    0123456789ab   3 years ago   124MB\n"
        );
    }

    #[test]
    fn empty_table_prints_header() {
        let f = OutputFormat::parse(Some("table"), IMAGES_DEFAULT);
        assert_eq!(
            render(&f, &[], &headers()).unwrap(),
            "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"
        );
    }

    #[test]
    fn custom_table_with_functions_in_header() {
        let f = OutputFormat::parse(
            Some(r"table {{.Repository | upper}}:{{.Tag}}\t{{json .ID}}"),
            "",
        );
        let out = render(&f, &rows()[..1], &headers()).unwrap();
        assert_eq!(
            out,
            "REPOSITORY:TAG   IMAGE ID\nBUSYBOX:latest   \"a416a98b71e2\"\n"
        );
    }

    #[test]
    fn json_lines_sorted_and_escaped() {
        let out = render(&OutputFormat::Json, &rows(), &headers()).unwrap();
        assert_eq!(
            out,
            "{\"CreatedSince\":\"2 weeks ago\",\"ID\":\"a416a98b71e2\",\"Repository\":\"busybox\",\"Size\":\"4.26MB\",\"Tag\":\"latest\"}\n\
             {\"CreatedSince\":\"3 years ago\",\"ID\":\"0123456789ab\",\"Repository\":\"\\u003cnone\\u003e\",\"Size\":\"124MB\",\"Tag\":\"\\u003cnone\\u003e\"}\n"
        );
    }

    #[test]
    fn bare_template_one_line_per_row() {
        let f = OutputFormat::parse(Some("{{.Repository}}:{{.Tag}}"), IMAGES_DEFAULT);
        assert_eq!(
            render(&f, &rows(), &headers()).unwrap(),
            "busybox:latest\n<none>:<none>\n"
        );
        let f = OutputFormat::parse(Some("{{json .Repository}}"), IMAGES_DEFAULT);
        assert_eq!(
            render(&f, &rows(), &headers()).unwrap(),
            "\"busybox\"\n\"<none>\"\n"
        );
    }

    #[test]
    fn errors() {
        let f = OutputFormat::parse(Some("{{.ID"), "");
        let e = render(&f, &rows(), &headers()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "template parsing error: template: :1: unclosed action"
        );
        let f = OutputFormat::parse(Some("{{.ID.X}}"), "");
        let e = render(&f, &rows(), &headers()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "template parsing error: template: :1:5: executing \"\" at <.ID.X>: can't evaluate field X in type interface {}"
        );
    }

    #[test]
    fn header_errors_keep_partial_header() {
        // A header cell whose template fails stops the header there; Docker
        // ignores the error and prints what was produced.
        let f = OutputFormat::parse(Some(r"table {{.ID}}\t{{.Tag.X}}\t{{.Size}}"), "");
        let out = render(&f, &[], &headers()).unwrap();
        assert_eq!(out, "IMAGE ID   \n");
    }

    #[test]
    fn context_semantics() {
        let ty = "*formatter.imageContext";
        let f = OutputFormat::parse(Some("{{.Nope}}"), "");
        let e = render_as(&f, &rows(), &headers(), ty).unwrap_err();
        assert_eq!(
            e.to_string(),
            "template parsing error: template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.imageContext"
        );
        let f = OutputFormat::parse(Some("{{.Tag.X}}"), "");
        let e = render_as(&f, &rows(), &headers(), ty).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("can't evaluate field X in type string"),
            "{e}"
        );
        let f = OutputFormat::parse(Some("{{.ID 1}}"), "");
        let e = render_as(&f, &rows(), &headers(), ty).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("wrong number of args for ID: want 0 got 1"),
            "{e}"
        );
        // Known fields work as usual; header rendering is unaffected.
        let f = OutputFormat::parse(Some("table {{.Repository}}"), "");
        assert_eq!(
            render_as(&f, &rows(), &headers(), ty).unwrap(),
            "REPOSITORY\nbusybox\n<none>\n"
        );
    }

    #[test]
    fn label_method_on_contexts() {
        let row = json!({"ID": "x", "Labels": "a=1,b=2", "Label": {"a": "1", "b": "2"}});
        let ty = "*formatter.imageContext";
        let f = OutputFormat::parse(
            Some(r#"{{.Label "a"}}|{{.Label "zz"}}|{{"b" | .Label}}"#),
            "",
        );
        assert_eq!(
            render_as(&f, std::slice::from_ref(&row), &headers(), ty).unwrap(),
            "1||2\n"
        );
        let f = OutputFormat::Json;
        assert_eq!(
            render_as(&f, std::slice::from_ref(&row), &headers(), ty).unwrap(),
            "{\"ID\":\"x\",\"Labels\":\"a=1,b=2\"}\n"
        );
        let f = OutputFormat::parse(Some("{{.Label}}"), "");
        let e = render_as(&f, &[row], &headers(), ty).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("wrong number of args for Label: want 1 got 0"),
            "{e}"
        );
    }

    #[test]
    fn render_with_header_fn() {
        let f = OutputFormat::parse(Some(r"table {{.ID}}\t{{.Size}}"), "");
        let out = render_with(&f, &rows()[..1], |field| match field {
            "ID" => Some("IMAGE ID".into()),
            other => Some(other.to_uppercase()),
        })
        .unwrap();
        assert_eq!(out, "IMAGE ID       SIZE\na416a98b71e2   4.26MB\n");
    }
}
