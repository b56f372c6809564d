//! What the harness reads from /proc (Linux): CPU time of a process (utime + stime of all its
//! threads), of every `postgres` process, of the whole machine, and a process's RSS. The crate
//! forbids `unsafe`, so the generator's own CPU time comes from /proc/self/stat rather than
//! getrusage(2); both count the same clock ticks.

use std::time::Instant;

use serde::Serialize;

/// Clock ticks per second of /proc/*/stat (`getconf CLK_TCK`; 100 on every Linux we know).
pub fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// utime + stime (clock ticks) of a process, from `/proc/<pid>/stat`, with its `comm`.
fn stat_ticks(path: &str) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // After the name: state(3) ppid(4) … utime(14) stime(15); index 0 here is field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

pub fn process_ticks(pid: u32) -> Option<u64> {
    stat_ticks(&format!("/proc/{pid}/stat")).map(|(_, t)| t)
}

pub fn self_ticks() -> Option<u64> {
    stat_ticks("/proc/self/stat").map(|(_, t)| t)
}

/// CPU ticks of every process named `postgres` (the server's backends, and anyone else's).
fn postgres_ticks() -> Option<u64> {
    let mut total = 0;
    let mut seen = false;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Some((comm, ticks)) = stat_ticks(&format!("/proc/{name}/stat"))
            && comm == "postgres"
        {
            total += ticks;
            seen = true;
        }
    }
    seen.then_some(total)
}

/// Busy and total ticks of all cores, from the `cpu` line of /proc/stat.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One reading of every CPU counter the report compares.
#[derive(Debug, Clone)]
pub struct CpuSnapshot {
    at: Instant,
    generator: Option<u64>,
    server: Option<u64>,
    postgres: Option<u64>,
    machine: Option<(u64, u64)>,
}

impl CpuSnapshot {
    pub fn take(server_pid: Option<u32>) -> Self {
        Self {
            at: Instant::now(),
            generator: self_ticks(),
            server: server_pid.and_then(process_ticks),
            postgres: postgres_ticks(),
            machine: machine_ticks(),
        }
    }
}

/// CPU use over the measured window, each in % of one core (a 2-core machine has 200%).
#[derive(Debug, Clone, Serialize)]
pub struct CpuReport {
    pub window_s: f64,
    pub cores: usize,
    pub clock_ticks_per_s: u64,
    /// This load generator (all its threads).
    pub generator_pct: Option<f64>,
    /// The server under test (all its threads), when its PID is known.
    pub server_pct: Option<f64>,
    /// Every process named `postgres` on the machine (0 for a SQLite server, unless someone else
    /// uses PostgreSQL meanwhile).
    pub postgres_pct: Option<f64>,
    /// All cores, all processes (busy = not idle and not iowait).
    pub machine_busy_pct: Option<f64>,
    /// machine − generator − server − postgres: everything else (other builds, the kernel's
    /// softirq work for loopback TCP, …).
    pub other_pct: Option<f64>,
}

impl CpuReport {
    pub fn between(a: &CpuSnapshot, b: &CpuSnapshot, clock_ticks_per_s: u64) -> Self {
        let window_s = b.at.duration_since(a.at).as_secs_f64();
        let pct = |x: Option<u64>, y: Option<u64>| -> Option<f64> {
            let (x, y) = (x?, y?);
            if window_s <= 0.0 {
                return None;
            }
            Some(y.saturating_sub(x) as f64 / clock_ticks_per_s as f64 / window_s * 100.0)
        };
        let generator_pct = pct(a.generator, b.generator);
        let server_pct = pct(a.server, b.server);
        let postgres_pct = pct(a.postgres, b.postgres);
        let machine_busy_pct = match (a.machine, b.machine) {
            (Some((busy_a, total_a)), Some((busy_b, total_b))) if total_b > total_a => {
                let cores = cores() as f64;
                Some(
                    busy_b.saturating_sub(busy_a) as f64 / (total_b - total_a) as f64
                        * 100.0
                        * cores,
                )
            }
            _ => None,
        };
        let other_pct = machine_busy_pct.map(|m| {
            m - generator_pct.unwrap_or(0.0)
                - server_pct.unwrap_or(0.0)
                - postgres_pct.unwrap_or(0.0)
        });
        Self {
            window_s,
            cores: cores(),
            clock_ticks_per_s,
            generator_pct,
            server_pct,
            postgres_pct,
            machine_busy_pct,
            other_pct,
        }
    }
}

/// Reads a `Vm…:   1234 kB` line of /proc/PID/status, in kB.
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Resets a process's peak RSS (`VmHWM`) to its current RSS (writing 5 to
/// /proc/PID/clear_refs, Linux ≥ 4.0; needs the right to ptrace it, e.g. the same user).
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}
