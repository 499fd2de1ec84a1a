//! Go `text/tabwriter` (elastic tabstops) as Docker's CLI uses it.
//!
//! Input is UTF-8 text whose cells are *terminated* by `\t` (or `\v`);
//! `\n` ends a line and `\f` ends a line and all open columns. Tab-terminated
//! cells in contiguous lines form a column; a column's width is the widest
//! cell in that block of lines plus `padding`, but at least `minwidth`. The
//! last cell of a line is not part of any column and is never padded.
//! Widths are display cells (East Asian wide characters count 2), like
//! Docker's vendored copy of the package which measures with go-runewidth.

use unicode_width::UnicodeWidthStr;

/// Tabwriter parameters (Go's `tabwriter.NewWriter` arguments, flags 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TabWriterConfig {
    /// Minimal cell width including padding.
    pub minwidth: usize,
    /// Width of a tab when `padchar` is `'\t'`.
    pub tabwidth: usize,
    /// Padding added to a cell's width.
    pub padding: usize,
    /// Character used for padding.
    pub padchar: char,
}

impl TabWriterConfig {
    /// Docker's formatter settings: `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
    pub const DOCKER: TabWriterConfig = TabWriterConfig {
        minwidth: 10,
        tabwidth: 1,
        padding: 3,
        padchar: ' ',
    };
}

impl Default for TabWriterConfig {
    fn default() -> Self {
        TabWriterConfig::DOCKER
    }
}

#[derive(Debug, Clone, Copy)]
struct Cell<'s> {
    text: &'s str,
    width: usize,
}

/// Aligns `input` exactly as writing it to a Go tabwriter and flushing would.
pub fn tabwrite(input: &str, cfg: &TabWriterConfig) -> String {
    let mut out = String::with_capacity(input.len() + input.len() / 2);
    let mut lines: Vec<Vec<Cell<'_>>> = vec![Vec::new()];
    let mut start = 0usize;
    for (i, ch) in input.char_indices() {
        if !matches!(ch, '\t' | '\u{b}' | '\n' | '\u{c}') {
            continue;
        }
        let text = &input[start..i];
        start = i + ch.len_utf8();
        let line = lines.last_mut().expect("at least one line");
        line.push(Cell {
            text,
            width: text.width(),
        });
        if ch == '\n' || ch == '\u{c}' {
            let ncells = line.len();
            lines.push(Vec::new());
            // A single-cell line cannot affect later columns, and a form
            // feed ends all columns: both flush what is buffered.
            if ch == '\u{c}' || ncells == 1 {
                flush(&mut out, &lines, cfg);
                lines = vec![Vec::new()];
            }
        }
    }
    let rest = &input[start..];
    if !rest.is_empty() {
        lines.last_mut().expect("at least one line").push(Cell {
            text: rest,
            width: rest.width(),
        });
    }
    flush(&mut out, &lines, cfg);
    out
}

/// Aligns `input` with Docker's settings ([`TabWriterConfig::DOCKER`]).
pub fn docker_tabwrite(input: &str) -> String {
    tabwrite(input, &TabWriterConfig::DOCKER)
}

fn flush(out: &mut String, lines: &[Vec<Cell<'_>>], cfg: &TabWriterConfig) {
    let mut widths = Vec::new();
    format(out, lines, &mut widths, 0, lines.len(), cfg);
}

/// Formats lines `line0..line1`; `widths` holds the widths of the columns
/// to the left of the one being examined.
fn format(
    out: &mut String,
    lines: &[Vec<Cell<'_>>],
    widths: &mut Vec<usize>,
    mut line0: usize,
    line1: usize,
    cfg: &TabWriterConfig,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        // Does this line have a (non-last) cell in this column?
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(out, lines, widths, line0, this, cfg);
        line0 = this;
        // The block of consecutive lines that have this column.
        let mut width = cfg.minwidth;
        while this < line1 && column + 1 < lines[this].len() {
            width = width.max(lines[this][column].width + cfg.padding);
            this += 1;
        }
        widths.push(width);
        format(out, lines, widths, line0, this, cfg);
        widths.pop();
        line0 = this;
    }
    write_lines(out, lines, widths, line0, line1, cfg);
}

fn write_padding(out: &mut String, text_w: usize, cell_w: usize, cfg: &TabWriterConfig) {
    if cfg.padchar == '\t' {
        if cfg.tabwidth == 0 {
            return;
        }
        let cell_w = cell_w.div_ceil(cfg.tabwidth) * cfg.tabwidth;
        let n = cell_w.saturating_sub(text_w);
        out.extend(std::iter::repeat_n('\t', n.div_ceil(cfg.tabwidth)));
        return;
    }
    out.extend(std::iter::repeat_n(
        cfg.padchar,
        cell_w.saturating_sub(text_w),
    ));
}

fn write_lines(
    out: &mut String,
    lines: &[Vec<Cell<'_>>],
    widths: &[usize],
    line0: usize,
    line1: usize,
    cfg: &TabWriterConfig,
) {
    for (i, line) in lines.iter().enumerate().take(line1).skip(line0) {
        for (j, c) in line.iter().enumerate() {
            out.push_str(c.text);
            if j < widths.len() {
                write_padding(out, c.width, widths[j], cfg);
            }
        }
        // The last buffered line has no newline of its own.
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(min: usize, pad: usize) -> TabWriterConfig {
        TabWriterConfig {
            minwidth: min,
            tabwidth: 1,
            padding: pad,
            padchar: ' ',
        }
    }

    #[test]
    fn docker_image_table() {
        let input = "REPOSITORY\tTAG\tIMAGE ID\n\
                     busybox\tlatest\tabc123\n";
        assert_eq!(
            docker_tabwrite(input),
            "REPOSITORY   TAG       IMAGE ID\n\
             busybox      latest    abc123\n"
        );
    }

    #[test]
    fn header_only_table() {
        assert_eq!(
            docker_tabwrite("REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n"),
            "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"
        );
    }

    #[test]
    fn long_header_sets_width() {
        assert_eq!(
            docker_tabwrite("CONTAINER ID\tNAMES\nabc\tfoo\n"),
            "CONTAINER ID   NAMES\nabc            foo\n"
        );
    }

    #[test]
    fn blocks_with_varying_column_counts() {
        // Column 1 exists in lines 0 and 2 but not line 1, so it is
        // aligned separately in each block.
        let input = "a\tb\tc\naaaa\tbbbbbbbbbbbbbbbb\nx\tyyy\tz\n";
        assert_eq!(
            tabwrite(input, &small(0, 1)),
            "a    b c\naaaa bbbbbbbbbbbbbbbb\nx    yyy z\n"
        );
        // Go's package doc example: b and c are in distinct columns.
        let doc = "aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee\n";
        assert_eq!(
            tabwrite(doc, &small(0, 1)),
            "aaaa bbb d\naa   b   dd\na    \naa   cccc eee\n"
        );
    }

    #[test]
    fn trailing_empty_cell_is_padded() {
        assert_eq!(docker_tabwrite("a\t\nbb\tc\n"), "a         \nbb        c\n");
    }

    #[test]
    fn single_cell_line_breaks_blocks() {
        let input = "a\tb\nzzzzzzzzzzzzzzzzzzzz\nccccccccccc\td\n";
        assert_eq!(
            docker_tabwrite(input),
            "a         b\nzzzzzzzzzzzzzzzzzzzz\nccccccccccc   d\n"
        );
    }

    #[test]
    fn form_feed_ends_columns() {
        let input = "aaaaaaaaaaaa\tb\n\u{c}c\td\n";
        assert_eq!(docker_tabwrite(input), "aaaaaaaaaaaa   b\n\nc         d\n");
    }

    #[test]
    fn no_trailing_newline() {
        assert_eq!(docker_tabwrite("a\tb"), "a         b");
        assert_eq!(docker_tabwrite("x\ty\na\t"), "x         y\na");
        assert_eq!(docker_tabwrite(""), "");
    }

    #[test]
    fn wide_characters_count_two_cells() {
        assert_eq!(
            docker_tabwrite("名前の長いイメージ\tx\nab\ty\n"),
            "名前の長いイメージ   x\nab                   y\n"
        );
    }

    #[test]
    fn tab_padding() {
        let cfg = TabWriterConfig {
            minwidth: 0,
            tabwidth: 8,
            padding: 1,
            padchar: '\t',
        };
        assert_eq!(
            tabwrite("a\tb\nabcdefghi\tc\n", &cfg),
            "a\t\tb\nabcdefghi\tc\n"
        );
    }
}
