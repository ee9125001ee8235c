//! The durable relay's journal: an append-only file whose appends are committed in groups,
//! one `fdatasync` for every append waiting at that moment — the least a durable bridge
//! must pay before it answers a webhook on this machine.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

/// One append waiting for its commit.
type Append = (Bytes, oneshot::Sender<Result<(), String>>);

/// A handle to the journal's writer thread; cheap to clone.
#[derive(Clone, Debug)]
pub struct Journal {
    tx: mpsc::UnboundedSender<Append>,
}

impl Journal {
    /// Creates (or truncates) the file at `path` and starts its writer thread, which ends
    /// when the last handle is dropped.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).write(true).truncate(true).open(path)?;
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::Builder::new().name("journal".into()).spawn(move || write_groups(file, rx))?;
        Ok(Self { tx })
    }

    /// Appends `record` (length-prefixed) and returns once it is on disk.
    pub async fn append(&self, record: Bytes) -> Result<(), String> {
        let (done, committed) = oneshot::channel();
        self.tx.send((record, done)).map_err(|_| "the journal is closed".to_owned())?;
        committed.await.map_err(|_| "the journal stopped".to_owned())?
    }
}

/// The writer: takes every append waiting, writes them, syncs once, answers them all.
fn write_groups(mut file: File, mut rx: mpsc::UnboundedReceiver<Append>) {
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while let Ok(more) = rx.try_recv() {
            group.push(more);
        }
        let mut buffer = Vec::new();
        for (record, _) in &group {
            buffer.extend_from_slice(&(record.len() as u32).to_le_bytes());
            buffer.extend_from_slice(record);
        }
        let outcome =
            file.write_all(&buffer).and_then(|()| file.sync_data()).map_err(|e| e.to_string());
        for (_, done) in group {
            let _ = done.send(outcome.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_append_is_in_the_file_once_answered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal");
        let journal = Journal::open(&path).unwrap();
        let appends = (0..50u8).map(|i| {
            let journal = journal.clone();
            tokio::spawn(async move { journal.append(Bytes::from(vec![i; 3])).await })
        });
        for append in appends.collect::<Vec<_>>() {
            append.await.unwrap().unwrap();
        }
        let written = std::fs::read(&path).unwrap();
        assert_eq!(written.len(), 50 * (4 + 3));
        let mut seen: Vec<u8> = written.chunks(7).map(|r| r[4]).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..50).collect::<Vec<u8>>());
    }
}
