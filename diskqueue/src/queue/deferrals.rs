//! The due times of deferred messages in the queue, kept in
//! `<queue>.deferred.dat` beside it (our extension; Go nsqd ignores the
//! file).

use super::DiskQueue;
use crate::error::{not_found, QueueError};
use crate::files::{random_u63, read_whole_file, remove, write_atomically};
use crate::format;

impl DiskQueue {
    /// The deferrals saved by [`DiskQueue::save_deferrals`](crate::DiskQueue::save_deferrals) (message ID,
    /// due unix ms); none if there is no such file.
    pub async fn load_deferrals(&self) -> Result<Vec<(u64, i64)>, QueueError> {
        if self.deferred_file == Some(false) {
            return Ok(Vec::new());
        }
        let path = self.dir.join(format::deferred_file_name(&self.name));
        match read_whole_file(&path).await {
            Ok(text) => Ok(format::parse_deferrals(&text)),
            Err(e) if not_found(&e) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Save the due times of deferred messages in the queue (written to a
    /// temporary file, fdatasynced, renamed); no entries removes the file.
    pub async fn save_deferrals(&mut self, entries: &[(u64, i64)]) -> Result<(), QueueError> {
        let path = self.dir.join(format::deferred_file_name(&self.name));
        if entries.is_empty() {
            if self.deferred_file == Some(false) {
                return Ok(());
            }
            return match remove(&path).await {
                Err(e) if !not_found(&e) => Err(e),
                _ => {
                    self.deferred_file = Some(false);
                    Ok(())
                }
            };
        }
        let tmp_path = self.dir.join(format!(
            "{}.{}.tmp",
            format::deferred_file_name(&self.name),
            random_u63()
        ));
        // Whatever happens next, the file may exist.
        self.deferred_file = None;
        write_atomically(&tmp_path, &path, format::encode_deferrals(entries)).await?;
        self.deferred_file = Some(true);
        Ok(())
    }
}
