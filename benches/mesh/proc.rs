//! What a process has used, read from /proc.

/// A field of /proc/PID/status, in its unit (kB for memory).
fn status_field(pid: u32, task: Option<&str>, field: &str) -> f64 {
    let path = match task {
        Some(t) => format!("/proc/{pid}/task/{t}/status"),
        None => format!("/proc/{pid}/status"),
    };
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// CPU time every thread of `pid` has used so far, in nanoseconds: the
/// first field of each thread's schedstat.
pub fn cpu_ns(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum()
}

pub fn rss_kib(pid: u32) -> f64 {
    status_field(pid, None, "VmRSS:")
}

/// Context switches of every thread of `pid`: each is a wake-up.
pub fn switches(pid: u32) -> f64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .filter_map(|t| t.ok())
        .map(|t| {
            let t = t.file_name().into_string().unwrap_or_default();
            status_field(pid, Some(&t), "voluntary_ctxt_switches:")
                + status_field(pid, Some(&t), "nonvoluntary_ctxt_switches:")
        })
        .sum()
}

/// Bytes sent over IP so far in this network namespace (`OutOctets` of
/// /proc/net/netstat): what the nodes' links carried, headers included,
/// plus whatever else runs here meanwhile.
pub fn ip_bytes_sent() -> f64 {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut ip = text.lines().filter(|l| l.starts_with("IpExt:"));
    let (Some(names), Some(values)) = (ip.next(), ip.next()) else {
        return 0.0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find_map(|(name, value)| (name == "OutOctets").then(|| value.parse().ok())?)
        .unwrap_or(0.0)
}
