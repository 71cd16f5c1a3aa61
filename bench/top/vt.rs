//! Just enough of a terminal to read what orc-top draws: a grid of
//! characters, the cursor moves (`CSI row;col H`), clearing (`CSI 2J`) and
//! printable text; every other sequence (styles, modes) is skipped.
//! ratatui writes only the cells that changed, so the screen is only
//! readable as a grid, never from the byte stream alone.

/// The screen.
pub struct Screen {
    rows: Vec<Vec<char>>,
    row: usize,
    col: usize,
    pending: Vec<u8>,
}

impl Screen {
    /// A blank `width`×`height` screen.
    pub fn new(width: usize, height: usize) -> Screen {
        Screen {
            rows: vec![vec![' '; width]; height],
            row: 0,
            col: 0,
            pending: Vec::new(),
        }
    }

    /// Apply bytes written to the terminal.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        let data = std::mem::take(&mut self.pending);
        let mut i = 0;
        while i < data.len() {
            match data[i] {
                0x1b => match self.escape(&data[i..]) {
                    Some(n) => i += n,
                    None => {
                        // Incomplete: keep it for the next write.
                        self.pending = data[i..].to_vec();
                        return;
                    }
                },
                b'\r' => {
                    self.col = 0;
                    i += 1;
                }
                b'\n' => {
                    self.row += 1;
                    i += 1;
                }
                b if b < 0x20 => i += 1,
                _ => {
                    let len = utf8_len(data[i]);
                    if i + len > data.len() {
                        self.pending = data[i..].to_vec();
                        return;
                    }
                    let text = String::from_utf8_lossy(&data[i..i + len]);
                    for c in text.chars() {
                        self.put(c);
                    }
                    i += len;
                }
            }
        }
    }

    /// Length of the escape sequence at the start of `s`, or `None` when
    /// it is cut off.
    fn escape(&mut self, s: &[u8]) -> Option<usize> {
        let second = *s.get(1)?;
        if second != b'[' {
            return Some(2);
        }
        let end = s[2..].iter().position(|b| (0x40..=0x7e).contains(b))? + 2;
        let params = String::from_utf8_lossy(&s[2..end]);
        match s[end] {
            b'H' => {
                let mut nums = params.split(';').map(|p| p.parse::<usize>().unwrap_or(1));
                self.row = nums.next().unwrap_or(1).saturating_sub(1);
                self.col = nums.next().unwrap_or(1).saturating_sub(1);
            }
            b'J' if params == "2" => {
                for row in &mut self.rows {
                    row.fill(' ');
                }
            }
            _ => {}
        }
        Some(end + 1)
    }

    fn put(&mut self, c: char) {
        if let Some(cell) = self
            .rows
            .get_mut(self.row)
            .and_then(|r| r.get_mut(self.col))
        {
            *cell = c;
        }
        self.col += 1;
    }

    /// The line that shows issue `n` in the worker table, if any.
    pub fn row_of(&self, n: u32) -> Option<String> {
        let tag = format!("#{n} ");
        self.rows
            .iter()
            .map(|r| r.iter().collect::<String>())
            .find(|l| l.get(2..).is_some_and(|rest| rest.starts_with(&tag)))
    }

    /// Whether any line contains `text`.
    pub fn shows(&self, text: &str) -> bool {
        self.rows
            .iter()
            .any(|r| r.iter().collect::<String>().contains(text))
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        b if b >= 0xf0 => 4,
        b if b >= 0xe0 => 3,
        b if b >= 0xc0 => 2,
        _ => 1,
    }
}
