//! The SQLite store's files on disk: who may read them, and which process owns them.
//!
//! The database holds customers' messages in flight and the links naming them, so its
//! files are the owner's alone (0600). SQLite would create the database 0644 whatever the
//! umask (`SQLITE_DEFAULT_FILE_PERMISSIONS`, applied with `fchmod`), and gives its `-wal`
//! and `-shm` files the database's own mode (`findCreateFileMode` and
//! `unixOpenSharedMemory` in SQLite's `os_unix.c`): so the database is created here first,
//! 0600, and files an older wbots left readable are tightened.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// The owner may read and write; nobody else anything.
#[cfg(unix)]
const PRIVATE: u32 = 0o600;

/// `path` with `suffix` appended to its file name (`wbots.db` → `wbots.db-wal`).
pub(super) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Sets the mode exactly, whatever the umask did at creation.
#[cfg(unix)]
fn make_private(file: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file.metadata()?.permissions().mode() & 0o777;
    if mode != PRIVATE {
        file.set_permissions(std::fs::Permissions::from_mode(PRIVATE))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_private(_file: &File) -> io::Result<()> {
    Ok(())
}

/// Opens (creating if missing) a file the owner alone may read.
fn open_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE);
    }
    let file = options.open(path)?;
    make_private(&file)?;
    Ok(file)
}

/// Creates the database file 0600 if it is missing (SQLite takes an empty file for an empty
/// database), and makes an existing database and its journal files 0600.
pub(super) fn prepare(db: &Path) -> Result<(), StoreError> {
    let refuse = |path: &Path, e: io::Error| {
        StoreError::unavailable(format!("{}: {e}", path.display())).caused_by(e)
    };
    open_private(db).map_err(|e| refuse(db, e))?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let path = sibling(db, suffix);
        match File::open(&path) {
            Ok(file) => make_private(&file).map_err(|e| refuse(&path, e))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(refuse(&path, e)),
        }
    }
    Ok(())
}

/// Takes the exclusive lock on `<db>.lock`, held as long as the returned file is open (the
/// operating system drops it when the process dies, `kill -9` included). An advisory
/// `flock(2)`: it binds wbots processes, which all take it before serving the file.
pub(super) fn lock(db: &Path) -> Result<File, StoreError> {
    let path = sibling(db, ".lock");
    let file = open_private(&path)
        .map_err(|e| StoreError::unavailable(format!("{}: {e}", path.display())).caused_by(e))?;
    match try_lock(&file) {
        Ok(()) => Ok(file),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(StoreError::InUse(format!(
            "another process serves {} (it holds the lock on {}): a SQLite store serves one \
             process; stop the other one, or use PostgreSQL for several replicas",
            db.display(),
            path.display()
        ))),
        Err(e) => {
            Err(StoreError::unavailable(format!("cannot lock {}: {e}", path.display()))
                .caused_by(e))
        }
    }
}

#[cfg(unix)]
fn try_lock(file: &File) -> io::Result<()> {
    use rustix::fs::{FlockOperation, flock};
    flock(file, FlockOperation::NonBlockingLockExclusive).map_err(io::Error::from)
}

/// Elsewhere the operator keeps to one process by hand (the README says so).
#[cfg(not(unix))]
fn try_lock(_file: &File) -> io::Result<()> {
    Ok(())
}
