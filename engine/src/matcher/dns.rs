//! Host-name resolution for the DNS-name fields (`fd.sip.name`,
//! `fd.cip.name`, `fd.rip.name`, `fd.lip.name`; RULES.md §3.15).
//!
//! When no name is known for a socket address, `=`, `!=` and `in` compare
//! the address with the addresses the literal host names resolve to. The
//! names are resolved when a ruleset is compiled and kept in a
//! [`DnsCache`] shared by every ruleset built against it; a background
//! thread re-resolves them at a fixed interval so that long-running
//! daemons follow DNS changes. Matching never resolves: it reads the
//! current address set of an entry (an `ArcSwap`, no lock).
//!
//! The same cache gives the fields their values: an address → name index,
//! rebuilt after every resolution, maps a socket address back to the rule
//! host name that resolved to it ([`DnsCache::name_of`]), as Falco's DNS
//! manager does (its cache also holds only the names filters compare
//! with). An address no rule name resolves to has no name.
//!
//! A failed resolution yields an empty set and a log line, never an error:
//! a rule naming an unresolvable host still loads and simply cannot match
//! through that name.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;

/// The address field a DNS-name field names (`fd.sip.name` → `fd.sip`).
pub(crate) fn address_field(f: &crate::fields::FieldRef) -> Option<crate::fields::FieldRef> {
    let name = f.def().name.strip_suffix(".name")?;
    Some(crate::fields::FieldRef {
        id: crate::fields::by_name(name)?,
        arg: crate::fields::FieldArg::None,
    })
}

/// A resolver function: host name to addresses.
pub type Resolver = dyn Fn(&str) -> io::Result<Vec<IpAddr>> + Send + Sync;

/// Default interval between background refreshes.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(60);

/// One host name and its current addresses.
#[derive(Debug)]
pub struct HostEntry {
    name: String,
    addrs: ArcSwap<Vec<IpAddr>>,
}

impl HostEntry {
    /// The host name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `ip` is among the host's current addresses.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.addrs.load().contains(&ip)
    }

    /// The current addresses.
    pub fn addrs(&self) -> Arc<Vec<IpAddr>> {
        self.addrs.load_full()
    }
}

/// A cache of resolved host names, refreshed in the background.
pub struct DnsCache {
    entries: Mutex<HashMap<String, Arc<HostEntry>>>,
    /// Address → the host name it was resolved from (the smallest name
    /// when several resolve to it), rebuilt whenever an entry is added or
    /// refreshed; read lock-free by [`DnsCache::name_of`].
    by_addr: ArcSwap<HashMap<IpAddr, Arc<str>>>,
    resolver: Box<Resolver>,
    refresh: Duration,
    refresher: OnceLock<()>,
}

impl std::fmt::Debug for DnsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsCache")
            .field("refresh", &self.refresh)
            .field("hosts", &self.lock().len())
            .finish()
    }
}

/// The system resolver (`getaddrinfo` through `ToSocketAddrs`).
pub fn system_resolve(host: &str) -> io::Result<Vec<IpAddr>> {
    let mut v: Vec<IpAddr> = (host, 0u16).to_socket_addrs()?.map(|a| a.ip()).collect();
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

impl DnsCache {
    /// A cache using the system resolver, refreshed every `refresh`.
    pub fn new(refresh: Duration) -> Arc<DnsCache> {
        DnsCache::with_resolver(refresh, Box::new(system_resolve))
    }

    /// A cache with a custom resolver (tests, or a resolver with its own
    /// timeouts).
    pub fn with_resolver(refresh: Duration, resolver: Box<Resolver>) -> Arc<DnsCache> {
        Arc::new(DnsCache {
            entries: Mutex::new(HashMap::new()),
            by_addr: ArcSwap::from_pointee(HashMap::new()),
            resolver,
            refresh,
            refresher: OnceLock::new(),
        })
    }

    /// The process-wide cache used by [`super::RuleSet::build`] and the
    /// reference interpreter, refreshed every [`DEFAULT_REFRESH`].
    pub fn global() -> &'static Arc<DnsCache> {
        static GLOBAL: OnceLock<Arc<DnsCache>> = OnceLock::new();
        GLOBAL.get_or_init(|| DnsCache::new(DEFAULT_REFRESH))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<HostEntry>>> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (every update is a single insert), so a poisoned lock is usable.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn resolve_now(&self, host: &str) -> Vec<IpAddr> {
        match (self.resolver)(host) {
            Ok(v) => v,
            Err(e) => {
                log::warn!(
                    "cannot resolve host name '{host}' used in a rule: {e}; it matches no address"
                );
                Vec::new()
            }
        }
    }

    /// The entry for `host`, resolving it now if it is not cached yet.
    /// Starts the background refresher on first use.
    pub fn entry(self: &Arc<Self>, host: &str) -> Arc<HostEntry> {
        if let Some(e) = self.lock().get(host) {
            return e.clone();
        }
        // Resolve without holding the lock: a slow resolver must not block
        // other lookups.
        let addrs = self.resolve_now(host);
        let entry = {
            let mut map = self.lock();
            map.entry(host.to_string())
                .or_insert_with(|| {
                    Arc::new(HostEntry {
                        name: host.to_string(),
                        addrs: ArcSwap::from_pointee(addrs),
                    })
                })
                .clone()
        };
        self.reindex();
        self.start_refresher();
        entry
    }

    /// Re-resolves every cached name once.
    pub fn refresh_all(&self) {
        let entries: Vec<Arc<HostEntry>> = self.lock().values().cloned().collect();
        for e in entries {
            let addrs = self.resolve_now(&e.name);
            e.addrs.store(Arc::new(addrs));
        }
        self.reindex();
    }

    /// The host name `ip` was resolved from, among the names rules compare
    /// DNS-name fields with (`fd.sip.name = example.com`): the value of
    /// `fd.sip.name` and friends, as Falco's DNS manager gives it. `None`
    /// when no such name resolves to `ip`. Never resolves: a lock-free
    /// read of the index the resolver thread keeps.
    pub fn name_of(&self, ip: IpAddr) -> Option<Arc<str>> {
        self.by_addr.load().get(&ip).cloned()
    }

    /// Rebuilds the address → name index from the current entries.
    fn reindex(&self) {
        let entries: Vec<Arc<HostEntry>> = self.lock().values().cloned().collect();
        let mut idx: HashMap<IpAddr, Arc<str>> = HashMap::new();
        for e in entries {
            let name: Arc<str> = e.name.as_str().into();
            for a in e.addrs.load().iter() {
                idx.entry(*a)
                    .and_modify(|n| {
                        if name < *n {
                            *n = name.clone();
                        }
                    })
                    .or_insert_with(|| name.clone());
            }
        }
        self.by_addr.store(Arc::new(idx));
    }

    fn start_refresher(self: &Arc<Self>) {
        self.refresher.get_or_init(|| {
            let weak: Weak<DnsCache> = Arc::downgrade(self);
            let interval = self.refresh;
            let spawned = std::thread::Builder::new()
                .name("kestrel-dns".into())
                .spawn(move || loop {
                    std::thread::sleep(interval);
                    // The thread ends once every owner dropped the cache.
                    let Some(cache) = weak.upgrade() else { return };
                    cache.refresh_all();
                });
            if let Err(e) = spawned {
                log::error!("cannot start the DNS refresh thread: {e}; host names used in rules will not be refreshed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn failure_is_an_empty_set() {
        let c = DnsCache::with_resolver(
            Duration::from_secs(3600),
            Box::new(|_| Err(io::Error::other("no network"))),
        );
        let e = c.entry("example.invalid");
        assert!(e.addrs().is_empty());
        assert!(!e.contains("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn addresses_map_back_to_the_names_rules_use() {
        let c = DnsCache::with_resolver(
            Duration::from_secs(3600),
            Box::new(|h| {
                Ok(match h {
                    "b.example" | "a.example" => vec![IpAddr::from([192, 0, 2, 7])],
                    "c.example" => vec![IpAddr::from([192, 0, 2, 8])],
                    _ => vec![],
                })
            }),
        );
        assert_eq!(c.name_of(IpAddr::from([192, 0, 2, 7])), None);
        c.entry("b.example");
        assert_eq!(
            c.name_of(IpAddr::from([192, 0, 2, 7])).as_deref(),
            Some("b.example")
        );
        // Two names for one address: the smallest, whatever the order.
        c.entry("a.example");
        c.entry("c.example");
        assert_eq!(
            c.name_of(IpAddr::from([192, 0, 2, 7])).as_deref(),
            Some("a.example")
        );
        assert_eq!(
            c.name_of(IpAddr::from([192, 0, 2, 8])).as_deref(),
            Some("c.example")
        );
        assert_eq!(c.name_of(IpAddr::from([192, 0, 2, 9])), None);
    }

    #[test]
    fn entries_are_cached_and_refreshed() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c2 = calls.clone();
        let c = DnsCache::with_resolver(
            Duration::from_millis(20),
            Box::new(move |_| {
                let n = c2.fetch_add(1, Ordering::SeqCst);
                Ok(vec![IpAddr::from([10, 0, 0, n as u8])])
            }),
        );
        let e = c.entry("h");
        assert!(e.contains("10.0.0.0".parse().unwrap()));
        let again = c.entry("h");
        assert!(Arc::ptr_eq(&e, &again));
        // The background thread picks new addresses up.
        let first: IpAddr = "10.0.0.0".parse().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while e.contains(first) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            !e.contains(first),
            "refresh did not replace the address set"
        );
        assert!(calls.load(Ordering::SeqCst) >= 2);
    }

    #[test]
    fn localhost_resolves_with_the_system_resolver() {
        let v = system_resolve("localhost").unwrap();
        assert!(v.iter().any(|a| a.is_loopback()));
    }
}
