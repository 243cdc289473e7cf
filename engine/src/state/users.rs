//! User and group names (RULES.md §7.5).
//!
//! The host's `/etc/passwd` and `/etc/group` are parsed once and re-read
//! when their modification time changes; the check runs at most once per
//! second and only on the thread that wins a compare-and-swap, so lookups
//! stay lock-free (the databases are behind `ArcSwap`). A container's
//! processes resolve names in the container's own files, read through
//! `/proc/<pid>/root/etc/...` of a process of that container and cached per
//! container id (refreshed with the same once-per-second mtime check).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use super::container::ContainerRef;

/// Names by id, from one passwd and one group file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameDb {
    /// uid → user name.
    pub users: HashMap<u32, Box<str>>,
    /// gid → group name.
    pub groups: HashMap<u32, Box<str>>,
    /// uid → home directory and login shell (`user.homedir`,
    /// `user.shell`), from the same passwd file as `users`.
    pub accounts: HashMap<u32, Account>,
}

/// The passwd fields beyond the name: what `user.homedir` and
/// `user.shell` show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    /// Home directory (6th passwd field).
    pub home: Box<str>,
    /// Login shell (7th passwd field).
    pub shell: Box<str>,
}

/// Parses the home directory and shell of each `name:x:uid:gid:gecos:home:shell`
/// line; the first entry for a uid wins (as in [`parse_id_file`]). Lines
/// with fewer than seven fields are skipped.
pub fn parse_accounts(text: &str) -> HashMap<u32, Account> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || f[0].is_empty() {
            continue;
        }
        if let Ok(uid) = f[2].parse::<u32>() {
            out.entry(uid).or_insert_with(|| Account {
                home: f[5].into(),
                shell: f[6].into(),
            });
        }
    }
    out
}

/// Parses `name:x:id:...` lines (passwd and group share the first three
/// fields). Comments, blank and malformed lines are skipped; the first
/// entry for an id wins, as with getpwuid.
pub fn parse_id_file(text: &str) -> HashMap<u32, Box<str>> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut f = line.split(':');
        let (Some(name), Some(_), Some(id)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        if let Ok(id) = id.parse::<u32>() {
            out.entry(id).or_insert_with(|| name.into());
        }
    }
    out
}

impl NameDb {
    /// Reads `<root>/etc/passwd` and `<root>/etc/group` (a missing file
    /// yields no names).
    pub fn load(root: &Path) -> NameDb {
        let read =
            |p: &str| std::fs::read(root.join(p)).map(|b| String::from_utf8_lossy(&b).into_owned());
        let passwd = read("etc/passwd").unwrap_or_default();
        NameDb {
            users: parse_id_file(&passwd),
            groups: read("etc/group")
                .map(|t| parse_id_file(&t))
                .unwrap_or_default(),
            accounts: parse_accounts(&passwd),
        }
    }
}

/// Falco's rendering of a name lookup: the name, `root` for id 0 when
/// unknown, else `<NA>`.
pub fn name_or_na(name: Option<&str>, id: u32) -> &str {
    match name {
        Some(n) => n,
        None if id == 0 => "root",
        None => "<NA>",
    }
}

fn mtime_of(root: &Path) -> (u64, u64) {
    let m = |p: &str| {
        std::fs::metadata(root.join(p))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64)
    };
    (m("etc/passwd"), m("etc/group"))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One database that refreshes itself from a root directory.
struct Source {
    root: Option<PathBuf>,
    db: ArcSwap<NameDb>,
    mtimes: std::sync::Mutex<(u64, u64)>,
    last_check: AtomicU64,
}

impl Source {
    fn new(root: Option<PathBuf>) -> Source {
        let (db, mt) = match &root {
            Some(r) => (NameDb::load(r), mtime_of(r)),
            None => (NameDb::default(), (0, 0)),
        };
        Source {
            root,
            db: ArcSwap::from_pointee(db),
            mtimes: std::sync::Mutex::new(mt),
            last_check: AtomicU64::new(now_secs()),
        }
    }

    fn fixed(db: NameDb) -> Source {
        Source {
            root: None,
            db: ArcSwap::from_pointee(db),
            mtimes: std::sync::Mutex::new((0, 0)),
            last_check: AtomicU64::new(u64::MAX),
        }
    }

    fn current(&self) -> arc_swap::Guard<Arc<NameDb>> {
        self.maybe_refresh();
        self.db.load()
    }

    fn maybe_refresh(&self) {
        let Some(root) = &self.root else { return };
        let now = now_secs();
        let last = self.last_check.load(Ordering::Relaxed);
        if now <= last {
            return;
        }
        // One thread per second does the stat; the others go on.
        if self
            .last_check
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let mt = mtime_of(root);
        let Ok(mut old) = self.mtimes.try_lock() else {
            return;
        };
        if *old != mt {
            *old = mt;
            self.db.store(Arc::new(NameDb::load(root)));
        }
    }
}

/// User and group databases: the host's and one per container.
pub struct Users {
    host: Source,
    containers: Arc<papaya::HashMap<Arc<str>, Arc<Source>>>,
    /// Whether container databases are read through `/proc/<pid>/root`.
    proc_root: Option<PathBuf>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("host_root", &self.host.root)
            .field("containers", &self.containers.len())
            .finish()
    }
}

/// The directory holding the host's `etc/`: `HOST_ROOT` when set and not
/// empty, else `/`.
pub fn host_root(var: Option<std::ffi::OsString>) -> PathBuf {
    var.filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

impl Default for Users {
    fn default() -> Self {
        Users::fixed(NameDb::default())
    }
}

impl Users {
    /// The live system: host files under `$HOST_ROOT` (Falco's variable: a
    /// DaemonSet mounts the node's /etc at `$HOST_ROOT/etc`), else `/`;
    /// container files through `/proc/<pid>/root`.
    pub fn system() -> Users {
        Users::with_roots(
            host_root(std::env::var_os("HOST_ROOT")),
            Some(PathBuf::from("/proc")),
        )
    }

    /// Host files under `host_root` (a directory containing `etc/`);
    /// container files through `<proc>/<pid>/root` when `proc` is given.
    pub fn with_roots(host_root: impl Into<PathBuf>, proc: Option<PathBuf>) -> Users {
        Users {
            host: Source::new(Some(host_root.into())),
            containers: Arc::new(papaya::HashMap::new()),
            proc_root: proc,
        }
    }

    /// A fixed database for every process (tests, replays on another host).
    pub fn fixed(db: NameDb) -> Users {
        Users {
            host: Source::fixed(db),
            containers: Arc::new(papaya::HashMap::new()),
            proc_root: None,
        }
    }

    /// A handle that drops a container's cached databases (called when the
    /// runtime reports the container destroyed, so the cache stays as
    /// large as the set of live containers).
    pub fn forgetter(&self) -> Arc<dyn Fn(&str) + Send + Sync> {
        let map = Arc::clone(&self.containers);
        Arc::new(move |id: &str| {
            map.pin().remove(id);
        })
    }

    /// Containers whose databases are cached.
    pub fn containers_cached(&self) -> usize {
        self.containers.len()
    }

    fn db_for(&self, container: &ContainerRef, tgid: u32) -> arc_swap::Guard<Arc<NameDb>> {
        if container.is_host() {
            return self.host.current();
        }
        let Some(proc) = &self.proc_root else {
            return self.host.current();
        };
        let map = self.containers.pin();
        if let Some(src) = map.get(&container.id) {
            return src.current();
        }
        let root = proc.join(tgid.to_string()).join("root");
        if !root.join("etc/passwd").exists() {
            // The process is gone or its root unreadable: fall back to the
            // host database without caching, so a later process of the same
            // container can still load the container's files.
            return self.host.current();
        }
        let src = Arc::new(Source::new(Some(root)));
        let g = src.current();
        map.insert(container.id.clone(), src);
        g
    }

    /// Name of `uid` for a process of `container` (`tgid` locates the
    /// container's root), or `None` if unknown.
    pub fn user_name(&self, container: &ContainerRef, tgid: u32, uid: u32) -> Option<Box<str>> {
        self.db_for(container, tgid).users.get(&uid).cloned()
    }

    /// Home directory and shell of `uid` for a process of `container`, or
    /// `None` if unknown.
    pub fn account(&self, container: &ContainerRef, tgid: u32, uid: u32) -> Option<Account> {
        self.db_for(container, tgid).accounts.get(&uid).cloned()
    }

    /// Name of `gid`, or `None`.
    pub fn group_name(&self, container: &ContainerRef, tgid: u32, gid: u32) -> Option<Box<str>> {
        self.db_for(container, tgid).groups.get(&gid).cloned()
    }

    /// Forgets a container's database (when the container is gone).
    pub fn forget_container(&self, id: &str) {
        self.containers.pin().remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_and_group() {
        let u = parse_id_file("root:x:0:0:root:/root:/bin/bash\n# c\n\nbad\nnobody:x:65534:65534::/:/sbin/nologin\ndup:x:0:0::/:/bin/sh\n:x:5:\nweird:x:notanumber:\n");
        assert_eq!(u.get(&0).map(|s| &**s), Some("root"));
        assert_eq!(u.get(&65534).map(|s| &**s), Some("nobody"));
        assert_eq!(u.len(), 2);
        assert_eq!(name_or_na(None, 0), "root");
        assert_eq!(name_or_na(None, 7), "<NA>");
        assert_eq!(name_or_na(Some("x"), 7), "x");
        let a = parse_accounts("root:x:0:0:root:/root:/bin/bash\nshort:x:9:9\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\nroot:x:0:0::/other:/bin/sh\n");
        assert_eq!(a.len(), 2);
        assert_eq!(&*a[&0].home, "/root");
        assert_eq!(&*a[&0].shell, "/bin/bash");
        assert_eq!(&*a[&65534].shell, "/usr/sbin/nologin");
    }

    #[test]
    fn host_files_refresh_on_change() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "alice:x:1000:1000::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("etc/group"), "staff:x:50:\n").unwrap();
        let users = Users::with_roots(dir.path(), None);
        let host = ContainerRef::host();
        assert_eq!(users.user_name(&host, 1, 1000).as_deref(), Some("alice"));
        assert_eq!(users.group_name(&host, 1, 50).as_deref(), Some("staff"));
        assert_eq!(users.user_name(&host, 1, 1001), None);
        // Change the file and let the once-per-second check see it.
        std::fs::write(
            dir.path().join("etc/passwd"),
            "bob:x:1001:1001::/:/bin/sh\n",
        )
        .unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(dir.path().join("etc/passwd"))
            .unwrap();
        f.set_modified(SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
        users.host.last_check.store(0, Ordering::Relaxed);
        assert_eq!(users.user_name(&host, 1, 1001).as_deref(), Some("bob"));
        assert_eq!(users.user_name(&host, 1, 1000), None);
    }

    #[test]
    fn container_files_through_proc_root() {
        let dir = tempfile::tempdir().unwrap();
        let host_root = dir.path().join("host");
        std::fs::create_dir_all(host_root.join("etc")).unwrap();
        std::fs::write(
            host_root.join("etc/passwd"),
            "hostuser:x:1000:1000::/:/bin/sh\n",
        )
        .unwrap();
        let proc = dir.path().join("proc");
        std::fs::create_dir_all(proc.join("77/root/etc")).unwrap();
        std::fs::write(
            proc.join("77/root/etc/passwd"),
            "app:x:1000:1000::/:/bin/sh\n",
        )
        .unwrap();
        let users = Users::with_roots(&host_root, Some(proc.clone()));
        let c = ContainerRef {
            id: Arc::from("a".repeat(64).as_str()),
            runtime: super::super::container::Runtime::Docker,
        };
        assert_eq!(users.user_name(&c, 77, 1000).as_deref(), Some("app"));
        assert_eq!(
            users.user_name(&ContainerRef::host(), 77, 1000).as_deref(),
            Some("hostuser")
        );
        // Cached per container: another (gone) pid of the same container still resolves.
        assert_eq!(users.user_name(&c, 99999, 1000).as_deref(), Some("app"));
    }

    #[test]
    fn host_root_follows_falcos_variable() {
        assert_eq!(host_root(None), PathBuf::from("/"));
        assert_eq!(host_root(Some("".into())), PathBuf::from("/"));
        assert_eq!(host_root(Some("/host".into())), PathBuf::from("/host"));
    }
}
