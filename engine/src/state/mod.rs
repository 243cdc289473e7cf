//! Process state: the process table (seeded from /proc, kept by fork,
//! exec and exit events), users and groups, container ids and metadata.
//!
//! - [`ProcessTable`] ([`process`]): lock-free reads, copy-on-write
//!   updates, exec generations for cross-CPU attribution.
//! - [`scan_proc`] ([`scan`]): /proc → synthetic `procinfo` records.
//! - [`Users`] ([`users`]): user/group names, host and per container.
//! - [`Containers`] ([`container`]): container ids from cgroups, metadata
//!   from the docker API in the background.
//! - [`Context`]: everything an event's fields need besides the event and
//!   the table (users, containers, host name, clock offset).
//!
//! Use: seed the table with the scan's records, then for each event
//! `attribution` (defer `Behind`), `apply`, and extract through
//! [`crate::fields::live::LiveEvent`].

pub mod container;
pub mod paths;
pub mod process;
pub mod scan;
pub mod sockets;
pub mod users;

pub use container::{
    ContainerConfig, ContainerInfo, ContainerRef, ContainerStats, Containers, Runtime,
};
pub use process::{
    Attribution, GenSel, Generation, Image, Lookup, ProcCache, Process, ProcessTable, TableStats,
};
pub use scan::{boot_clock_ns, boot_to_epoch_offset_ns, scan_one, scan_proc};
pub use users::{NameDb, Users};

use std::collections::HashMap;

/// Port → service name, from `/etc/services` (for `fd.proto`).
#[derive(Debug, Clone, Default)]
pub struct Services {
    by_port: HashMap<(u16, u8), Box<str>>,
}

impl Services {
    /// Parses `/etc/services` text (`name port/proto aliases...`).
    pub fn parse(text: &str) -> Services {
        let mut by_port = HashMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut f = line.split_whitespace();
            let (Some(name), Some(pp)) = (f.next(), f.next()) else {
                continue;
            };
            let Some((port, proto)) = pp.split_once('/') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            let proto = match proto {
                "tcp" => sockets::IPPROTO_TCP,
                "udp" => sockets::IPPROTO_UDP,
                _ => continue,
            };
            by_port.entry((port, proto)).or_insert_with(|| name.into());
        }
        Services { by_port }
    }

    /// Reads `/etc/services`; empty if unreadable.
    pub fn system() -> Services {
        std::fs::read_to_string("/etc/services")
            .map(|t| Services::parse(&t))
            .unwrap_or_default()
    }

    /// Service name of `port` for IP protocol `proto`.
    pub fn name(&self, port: u16, proto: u8) -> Option<&str> {
        self.by_port.get(&(port, proto)).map(|s| &**s)
    }
}

/// What field extraction needs besides the event and the process table.
#[derive(Debug, Default)]
pub struct Context {
    /// User and group databases.
    pub users: Users,
    /// Container metadata.
    pub containers: Containers,
    /// `evt.hostname`.
    pub hostname: String,
    /// Epoch ns minus boot-clock ns, added to event timestamps.
    pub boot_to_epoch_ns: i64,
    /// Port names for `fd.proto`.
    pub services: Services,
    /// Boot-clock time the capture started, for `evt.reltime` (0 =
    /// unknown, as when replaying a capture: the field is then missing).
    pub capture_start_ns: u64,
}

/// The host name Falco would report: `FALCO_HOSTNAME` if set, else the
/// kernel's host name.
pub fn system_hostname() -> String {
    if let Ok(h) = std::env::var("FALCO_HOSTNAME") {
        if !h.is_empty() {
            return h;
        }
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

impl Context {
    /// The live system: host users with per-container databases, docker
    /// metadata from `/var/run/docker.sock` when it exists, the system host
    /// name and the current boot→epoch offset.
    pub fn system() -> std::io::Result<Context> {
        Context::system_with(&ContainerConfig::default())
    }

    /// The live system with container metadata from the runtimes `cfg`
    /// names.
    pub fn system_with(cfg: &ContainerConfig) -> std::io::Result<Context> {
        let users = Users::system();
        let containers = Containers::start(cfg)?;
        // A destroyed container's user database goes with its metadata.
        containers.on_evict(users.forgetter());
        Ok(Context {
            users,
            containers,
            hostname: system_hostname(),
            boot_to_epoch_ns: boot_to_epoch_offset_ns(),
            services: Services::system(),
            capture_start_ns: boot_clock_ns(),
        })
    }

    /// Replaying a capture recorded elsewhere: the recorded host name and
    /// clock offset, users from this host's files, no container runtime.
    pub fn replay(hostname: impl Into<String>, boot_to_epoch_ns: i64) -> Context {
        Context {
            users: Users::with_roots("/", None),
            containers: Containers::disabled(),
            hostname: hostname.into(),
            boot_to_epoch_ns,
            services: Services::system(),
            capture_start_ns: 0,
        }
    }

    /// Converts a boot-clock timestamp to epoch ns.
    pub fn epoch_ns(&self, boot_ns: u64) -> u64 {
        (boot_ns as i64)
            .saturating_add(self.boot_to_epoch_ns)
            .max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_parse() {
        let s =
            Services::parse("# c\nssh 22/tcp\nhttp 80/tcp www\ndomain 53/udp\nbad\nx 99999/tcp\n");
        assert_eq!(s.name(22, sockets::IPPROTO_TCP), Some("ssh"));
        assert_eq!(s.name(53, sockets::IPPROTO_UDP), Some("domain"));
        assert_eq!(s.name(53, sockets::IPPROTO_TCP), None);
    }

    #[test]
    fn epoch_conversion() {
        let c = Context {
            boot_to_epoch_ns: 1_000,
            ..Default::default()
        };
        assert_eq!(c.epoch_ns(5), 1_005);
        let c = Context {
            boot_to_epoch_ns: -10,
            ..Default::default()
        };
        assert_eq!(c.epoch_ns(5), 0);
    }
}
