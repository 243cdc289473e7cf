//! One daemon per lock file: a second `kestrel` started beside the first
//! stops with a clear error before it touches the probe, the outputs or
//! the web port.
//!
//! The lock is `flock(LOCK_EX | LOCK_NB)` on `kestrel.lock_file` (default
//! `/run/kestrel/kestrel.lock`). The kernel drops it when the process ends,
//! however it ends (`kill -9` included), so a stale file never blocks a
//! restart. The file holds the owner's pid, for the error message only.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The held lock; released when dropped or when the process exits.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

impl InstanceLock {
    /// Takes the lock at `path`, creating the file (mode 0644) and its
    /// directory (mode 0755) if missing, and writes this process's pid in
    /// it. Fails, naming the other instance's pid, if another process
    /// holds it.
    pub fn acquire(path: &Path) -> Result<InstanceLock> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
                .with_context(|| {
                    format!(
                        "config key 'kestrel.lock_file': cannot create the directory {}",
                        dir.display()
                    )
                })?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(path)
            .with_context(|| {
                format!(
                    "config key 'kestrel.lock_file': cannot open {}",
                    path.display()
                )
            })?;
        // SAFETY: flock on a descriptor this function owns.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut text = String::new();
                let owner = match file.read_to_string(&mut text) {
                    Ok(_) if !text.trim().is_empty() => format!("pid {}", text.trim()),
                    _ => "another process".to_string(),
                };
                bail!(
                    "another kestrel is already running ({owner} holds {}); stop it first, or give this instance its own kestrel.lock_file (two daemons would capture every event twice)",
                    path.display()
                );
            }
            return Err(err).with_context(|| format!("locking {}", path.display()));
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .with_context(|| format!("writing the pid into {}", path.display()))?;
        Ok(InstanceLock {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_instance_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/kestrel.lock");
        let first = InstanceLock::acquire(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim(),
            std::process::id().to_string()
        );
        // flock locks belong to the open file: a second open in the same
        // process conflicts just like another process would.
        let e = InstanceLock::acquire(&path).unwrap_err().to_string();
        assert!(e.contains("another kestrel is already running"), "{e}");
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        assert!(e.contains(&path.display().to_string()), "{e}");
        drop(first);
        let again = InstanceLock::acquire(&path).unwrap();
        assert_eq!(again.path(), path);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o022, 0, "lock file writable by others: {mode:o}");
    }

    #[test]
    fn unusable_paths_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("file");
        std::fs::write(&f, "x").unwrap();
        let e = format!(
            "{:#}",
            InstanceLock::acquire(&f.join("x.lock")).unwrap_err()
        );
        assert!(e.contains("kestrel.lock_file"), "{e}");
        // A symlink is not followed (O_NOFOLLOW).
        let link = dir.path().join("link.lock");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        let e = format!("{:#}", InstanceLock::acquire(&link).unwrap_err());
        assert!(e.contains("cannot open"), "{e}");
    }
}
