//! Aligned columns for people: a header row and left- or right-aligned cells, two spaces apart.

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers and durations.
    Right,
}

/// A table being built.
#[derive(Debug)]
pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these headers.
    pub fn new(columns: &[(&'static str, Align)]) -> Table {
        Table { columns: columns.to_vec(), rows: Vec::new() }
    }

    /// Adds a row (one cell per column).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text; the last column is not padded, so long reasons do not leave trailing
    /// spaces.
    pub fn render(&self) -> String {
        let width = |i: usize| {
            let cells = self.rows.iter().map(|r| r.get(i).map_or(0, |c| c.chars().count()));
            cells.chain([self.columns[i].0.chars().count()]).max().unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.columns.len()).map(width).collect();
        let last = self.columns.len().saturating_sub(1);
        let line = |cells: Vec<&str>| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                match self.columns[i].1 {
                    Align::Right => text.push_str(&format!("{}{cell}", " ".repeat(pad))),
                    Align::Left if i == last => text.push_str(cell),
                    Align::Left => text.push_str(&format!("{cell}{}", " ".repeat(pad))),
                }
                if i < last {
                    text.push_str("  ");
                }
            }
            text.truncate(text.trim_end().len());
            text.push('\n');
            text
        };
        let mut text = line(self.columns.iter().map(|c| c.0).collect());
        for row in &self.rows {
            text.push_str(&line(row.iter().map(String::as_str).collect()));
        }
        text
    }
}

/// An RFC 3339 time as people read it: `2026-01-01 12:00:03` (UTC, as the journal keeps it).
pub fn time(rfc3339: &str) -> String {
    rfc3339.trim_end_matches('Z').replacen('T', " ", 1)
}

/// An optional duration in milliseconds, `—` when unknown.
pub fn duration(ms: Option<u64>) -> String {
    ms.map_or_else(|| "—".to_owned(), crate::inspect::human_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_numbers_align_right() {
        let mut t = Table::new(&[("NAME", Align::Left), ("N", Align::Right), ("WHY", Align::Left)]);
        t.row(vec!["a".into(), "10".into(), "because".into()]);
        t.row(vec!["long name".into(), "2".into(), String::new()]);
        assert_eq!(t.render(), "NAME        N  WHY\na          10  because\nlong name   2\n");
    }
}
