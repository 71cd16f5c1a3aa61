//! Claude session ids: the UUIDs orc picks for `--session-id`, and the
//! short ids `claude --bg` prints.

use crate::error::{Error, Result};

/// A random version-4 UUID from 16 bytes of `/dev/urandom`, for
/// `claude --session-id`: orc picks the id so it can resume the session.
pub fn new_session_id() -> Result<String> {
    use std::io::Read;
    let path = std::path::Path::new("/dev/urandom");
    let mut bytes = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io("read random bytes", path, e))?;
    Ok(uuid_v4(bytes))
}

/// Format 16 random bytes as a version-4, RFC 4122 variant UUID.
pub(super) fn uuid_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Whether `text` is a UUID in its 8-4-4-4-12 hex form (what claude accepts).
pub fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The short id from `claude --bg` output: the line
/// `backgrounded · 46be24c7 · <name>` gives `46be24c7` (the first 8 hex of
/// the session UUID, taken by `claude attach|logs|stop`).
pub fn parse_background_id(stdout: &str) -> Option<String> {
    stdout.lines().find_map(|line| {
        let line = strip_ansi(line);
        let rest = line.trim().strip_prefix("backgrounded")?;
        let id = rest.split('·').map(str::trim).find(|s| !s.is_empty())?;
        (id.len() >= 8 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_string())
    })
}

/// Remove ANSI escape sequences (colours) that a CLI may print even to a pipe.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
        } else if chars.next() == Some('[') {
            // CSI: parameters, then one final byte in '@'..='~'.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}
