//! Resident memory of process groups, from `/proc` (Linux). An agent is
//! the leader of its own process group, so the group is the agent and
//! everything it started. Where `/proc` cannot be read nothing is known,
//! and nothing is shown.

use std::collections::HashMap;

/// The resident memory in kilobytes of each of `pgids` that has a
/// process: one pass over `/proc`.
pub fn rss_by_group(pgids: &[i32]) -> HashMap<i32, u64> {
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    let page_kb = page_size() / 1024;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((pgrp, rss_pages)) = parse_stat(&stat)
            && pgids.contains(&pgrp)
        {
            *out.entry(pgrp).or_insert(0) += rss_pages * page_kb;
        }
    }
    out
}

/// The process group (field 5) and resident pages (field 24) of a
/// `/proc/<pid>/stat` line. The command (field 2) may hold spaces and
/// parentheses, so fields are counted after its last `)`.
pub fn parse_stat(stat: &str) -> Option<(i32, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): field n is fields[n - 3].
    let pgrp = fields.get(2)?.parse().ok()?;
    let rss = fields.get(21)?.parse().ok()?;
    Some((pgrp, rss))
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_commands_parse() {
        let line = "4242 (a (b) c) S 1 4240 4240 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 \
                    100 1000000 256 18446744073709551615";
        assert_eq!(parse_stat(line), Some((4240, 256)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn our_own_group_has_memory() {
        let pgid = nix::unistd::getpgrp().as_raw();
        let rss = rss_by_group(&[pgid]);
        assert!(rss.get(&pgid).is_some_and(|kb| *kb > 0), "{rss:?}");
    }
}
