//! Parsers of the Linux text files the resources collector reads. Each takes the file's text
//! and returns `None` (or skips a line) for anything it does not understand; none panics.

/// `/proc/stat`'s first line: (busy, idle) clock ticks of all CPUs. Busy is user, nice,
/// system, irq, softirq and steal; idle is idle and iowait.
pub(crate) fn proc_stat_cpu(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    if v.len() < 4 {
        return None;
    }
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    let idle = at(3) + at(4);
    Some((busy, idle))
}

/// `/proc/self/stat`: user + system clock ticks of the process (fields 14 and 15, counted
/// after the command name, which may hold spaces and parentheses).
pub(crate) fn proc_self_stat_cpu(text: &str) -> Option<u64> {
    let after = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Field 3 (state) is the first after the name: field n is at index n - 3.
    let user: u64 = f.get(11)?.parse().ok()?;
    let system: u64 = f.get(12)?.parse().ok()?;
    Some(user + system)
}

/// A `Key: value kB` line of `/proc/meminfo` (or `/proc/self/status`), in bytes when the
/// value is in kB, as is otherwise.
pub(crate) fn kv(text: &str, key: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|l| l.split_once(':').is_some_and(|(k, _)| k.trim() == key))?;
    let rest = line.split_once(':')?.1.trim();
    let mut parts = rest.split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    Some(match parts.next() {
        Some("kB") => n.saturating_mul(1024),
        _ => n,
    })
}

/// A cgroup v2 single-value file (`memory.max`, `memory.current`): `None` for `max`.
pub(crate) fn cgroup_value(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// `cpu.max` (`$MAX $PERIOD`): the quota in cores, `None` for `max`.
pub(crate) fn cgroup_cpu_max(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    let quota: f64 = parts.next()?.parse().ok()?;
    let period: f64 = parts.next()?.parse().ok()?;
    (period > 0.0).then(|| quota / period)
}

/// `cpu.stat`: (periods, throttled periods, throttled microseconds).
pub(crate) fn cgroup_cpu_stat(text: &str) -> Option<(u64, u64, u64)> {
    let get = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse::<u64>().ok()).flatten()
        })
    };
    Some((
        get("nr_periods")?,
        get("nr_throttled").unwrap_or(0),
        get("throttled_usec").unwrap_or(0),
    ))
}

/// `/proc/net/dev`: received and transmitted bytes summed over interfaces other than `lo`.
pub(crate) fn net_dev(text: &str) -> Option<(u64, u64)> {
    let mut total = None;
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        if f.len() < 9 {
            continue;
        }
        let (rx, tx) = total.get_or_insert((0u64, 0u64));
        *rx += f[0];
        *tx += f[8];
    }
    total
}

/// `/proc/diskstats`: per whole disk (not partitions, loop or ram devices), milliseconds spent
/// doing I/O (the 10th statistic). At most `max` devices.
pub(crate) fn diskstats(text: &str, max: usize) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 13 {
            continue;
        }
        let name = f[2];
        let partition = name.starts_with("nvme") && name.contains('p')
            || !name.starts_with("nvme") && name.ends_with(|c: char| c.is_ascii_digit());
        if name.starts_with("loop") || name.starts_with("ram") || partition {
            continue;
        }
        if let Ok(ms) = f[12].parse::<u64>() {
            if out.len() < max {
                out.push((name.to_string(), ms));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_sums_busy_and_idle_ticks() {
        let text = "cpu  100 5 50 1000 20 3 2 7 0 0\ncpu0 50 2 25 500 10 1 1 3 0 0\nintr 1\n";
        assert_eq!(
            proc_stat_cpu(text),
            Some((100 + 5 + 50 + 3 + 2 + 7, 1000 + 20))
        );
        assert_eq!(proc_stat_cpu("garbage"), None);
        assert_eq!(proc_stat_cpu("cpu  1 2"), None);
    }

    #[test]
    fn self_stat_survives_a_name_with_spaces_and_parens() {
        let text =
            "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 4 0 100 1000 200";
        assert_eq!(proc_self_stat_cpu(text), Some(325));
        assert_eq!(proc_self_stat_cpu("42 (x"), None);
    }

    #[test]
    fn meminfo_and_status_values_read_in_bytes() {
        let meminfo = "MemTotal:       16384 kB\nMemFree:  1024 kB\nMemAvailable:   8192 kB\n";
        assert_eq!(kv(meminfo, "MemTotal"), Some(16384 * 1024));
        assert_eq!(kv(meminfo, "MemAvailable"), Some(8192 * 1024));
        assert_eq!(kv(meminfo, "Mem"), None);
        let status = "voluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t7\n";
        assert_eq!(kv(status, "voluntary_ctxt_switches"), Some(120));
        assert_eq!(kv(status, "nonvoluntary_ctxt_switches"), Some(7));
    }

    #[test]
    fn cgroup_files_read_limits_and_max() {
        assert_eq!(cgroup_value("536870912\n"), Some(536_870_912));
        assert_eq!(cgroup_value("max\n"), None);
        assert_eq!(cgroup_cpu_max("50000 100000\n"), Some(0.5));
        assert_eq!(cgroup_cpu_max("max 100000\n"), None);
        assert_eq!(cgroup_cpu_max("1 0"), None);
        let stat = "usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 20\nnr_throttled 5\nthrottled_usec 12345\n";
        assert_eq!(cgroup_cpu_stat(stat), Some((20, 5, 12345)));
        assert_eq!(cgroup_cpu_stat("usage_usec 1\n"), None);
    }

    #[test]
    fn net_dev_sums_interfaces_but_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0\n  eth0: 5000 50 0 0 0 0 0 0 7000 70 0 0 0 0 0 0\n  eth1: 1 1 0 0 0 0 0 0 2 2 0 0 0 0 0 0\n";
        assert_eq!(net_dev(text), Some((5001, 7002)));
        assert_eq!(net_dev("header\nheader\n"), None);
    }

    #[test]
    fn diskstats_keeps_whole_disks_only() {
        let text = "   8       0 sda 100 0 200 30 40 0 80 50 0 60 80 0 0 0 0\n   8       1 sda1 10 0 20 3 4 0 8 5 0 6 8 0 0 0 0\n 259       0 nvme0n1 1 0 2 3 4 0 8 5 0 70 8 0 0\n 259       1 nvme0n1p1 1 0 2 3 4 0 8 5 0 9 8 0 0\n   7       0 loop0 1 0 2 3 4 0 8 5 0 9 8 0 0\n";
        assert_eq!(
            diskstats(text, 16),
            [("sda".to_string(), 60), ("nvme0n1".to_string(), 70)]
        );
        assert_eq!(diskstats(text, 1).len(), 1);
        assert!(diskstats("nonsense", 4).is_empty());
    }
}
