//! One listing of a data directory for every queue in it, made before the
//! queues open: at startup a broker opens thousands of queues, and each
//! listing the whole directory itself would make startup quadratic in the
//! number of queues.
//!
//! [`DirScan::read`] lists the directory once, groups the files by queue,
//! then reads every queue's metadata file and write-file size on a few
//! threads (plain blocking reads: nothing else runs yet). Each queue then
//! opens from its [`QueueFiles`] with no directory listing and no file I/O
//! of its own ([`crate::DiskQueue::open_scanned`]). Blocking, so call it
//! before the executors start (or off them).

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use crate::format;

/// What the directory holds for one queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFiles {
    /// Data file numbers.
    pub data_files: BTreeSet<u64>,
    /// Left-over `<meta>.<random>.tmp` and `<deferrals>.<random>.tmp` file
    /// names (a crash while one was written; removed at open).
    pub stale_tmp: Vec<String>,
    /// The metadata file's text; `None` without one. A read error is kept
    /// for the open to report.
    pub meta: Option<Result<Vec<u8>, String>>,
    /// The data file that will be the write file (the metadata's, or a
    /// later one found on disk) and its size: (file number, bytes).
    pub write_size: Option<(u64, u64)>,
    /// Whether `<queue>.deferred.dat` exists.
    pub deferred: bool,
}

/// The queues of one data directory, by queue name.
#[derive(Debug, Default)]
pub struct DirScan {
    dir: PathBuf,
    queues: HashMap<String, QueueFiles>,
}

/// Which queue a file belongs to, and how.
enum Kind<'a> {
    Data(&'a str, u64),
    Meta(&'a str),
    StaleTmp(&'a str, String),
    Deferred(&'a str),
}

/// Classify one file name of the directory.
fn classify(file_name: &str) -> Option<Kind<'_>> {
    if let Some((queue, n)) = format::parse_data_file_name(file_name) {
        return Some(Kind::Data(queue, n));
    }
    if let Some(queue) = file_name.strip_suffix(".diskqueue.meta.dat") {
        return (!queue.is_empty()).then_some(Kind::Meta(queue));
    }
    if let Some(queue) = file_name.strip_suffix(".deferred.dat") {
        return (!queue.is_empty()).then_some(Kind::Deferred(queue));
    }
    let stem = file_name.strip_suffix(".tmp")?;
    let (file, random) = stem.rsplit_once('.')?;
    let queue = file
        .strip_suffix(".diskqueue.meta.dat")
        .or_else(|| file.strip_suffix(".deferred.dat"))?;
    let digits = !random.is_empty() && random.bytes().all(|b| b.is_ascii_digit());
    (digits && !queue.is_empty()).then(|| Kind::StaleTmp(queue, file_name.to_string()))
}

impl DirScan {
    /// List `dir` once and read what each queue's open needs, with up to
    /// `threads` threads for the metadata reads.
    pub fn read(dir: &Path, threads: usize) -> io::Result<DirScan> {
        let dir = std::path::absolute(dir)?;
        let mut queues: HashMap<String, QueueFiles> = HashMap::new();
        let mut has_meta: Vec<String> = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let Ok(file_name) = entry.file_name().into_string() else {
                continue;
            };
            match classify(&file_name) {
                Some(Kind::Data(q, n)) => {
                    queues
                        .entry(q.to_string())
                        .or_default()
                        .data_files
                        .insert(n);
                }
                Some(Kind::Meta(q)) => {
                    queues.entry(q.to_string()).or_default();
                    has_meta.push(q.to_string());
                }
                Some(Kind::StaleTmp(q, name)) => {
                    queues
                        .entry(q.to_string())
                        .or_default()
                        .stale_tmp
                        .push(name);
                }
                Some(Kind::Deferred(q)) => queues.entry(q.to_string()).or_default().deferred = true,
                None => {}
            }
        }
        for (queue, meta) in read_metas(&dir, &has_meta, threads.max(1)) {
            if let Some(files) = queues.get_mut(&queue) {
                files.meta = Some(meta);
            }
        }
        // The write file's size: the metadata's write file, or the last
        // data file when that is later (or there is no metadata).
        for (queue, files) in queues.iter_mut() {
            let meta_write = match &files.meta {
                Some(Ok(text)) => format::parse_meta(text)
                    .ok()
                    .and_then(|m| u64::try_from(m.write_file_num).ok()),
                _ => None,
            };
            let last = files.data_files.last().copied();
            let write = match (meta_write, last) {
                (Some(w), Some(l)) => Some(w.max(l)),
                (w, l) => w.or(l),
            };
            files.write_size = write
                .filter(|n| files.data_files.contains(n))
                .and_then(|n| {
                    let path = dir.join(format::data_file_name(queue, n));
                    std::fs::metadata(path).ok().map(|m| (n, m.len()))
                });
        }
        Ok(DirScan { dir, queues })
    }

    /// The directory scanned (absolute).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Names of the queues that have files.
    pub fn queue_names(&self) -> impl Iterator<Item = &str> {
        self.queues.keys().map(String::as_str)
    }

    /// Take queue `name`'s files: [`QueueFiles::default`] (nothing on
    /// disk) when the directory held none.
    pub fn take(&mut self, name: &str) -> QueueFiles {
        self.queues.remove(name).unwrap_or_default()
    }

    /// Split into parts by `part_of(queue name)` (for example the shard
    /// that will open the queue); `parts` parts.
    pub fn split(self, parts: usize, part_of: impl Fn(&str) -> usize) -> Vec<DirScan> {
        let mut out: Vec<DirScan> = (0..parts.max(1))
            .map(|_| DirScan {
                dir: self.dir.clone(),
                queues: HashMap::new(),
            })
            .collect();
        let last = out.len() - 1;
        for (name, files) in self.queues {
            let i = part_of(&name).min(last);
            out[i].queues.insert(name, files);
        }
        out
    }
}

/// Read the metadata files of `names` on up to `threads` threads.
fn read_metas(
    dir: &Path,
    names: &[String],
    threads: usize,
) -> Vec<(String, Result<Vec<u8>, String>)> {
    let per = names.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = names
            .chunks(per)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|name| {
                            let path = dir.join(format::meta_file_name(name));
                            let text = std::fs::read(&path).map_err(|e| e.to_string());
                            (name.clone(), text)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_grouped_by_queue() {
        let dir = nsq_test_support::TempDir::new("scan");
        let d = dir.path();
        for (name, text) in [
            ("t.diskqueue.meta.dat", "3\n0,0\n1,10\n"),
            ("t.diskqueue.000000.dat", "x"),
            ("t.diskqueue.000001.dat", "0123456789"),
            ("t:c.diskqueue.meta.dat", "0\n0,0\n0,0\n"),
            ("t:c.deferred.dat", ""),
            ("t:c.diskqueue.meta.dat.123.tmp", ""),
            ("u.diskqueue.000004.dat", ""),
            ("nsqd.dat", "{}"),
            ("t.diskqueue.meta.dat.x.tmp", ""),
            ("t:c.deferred.dat.77.tmp", ""),
        ] {
            std::fs::write(d.join(name), text).unwrap();
        }
        let mut scan = DirScan::read(d, 2).unwrap();
        let mut names: Vec<&str> = scan.queue_names().collect();
        names.sort_unstable();
        assert_eq!(names, ["t", "t:c", "u"]);
        let t = scan.take("t");
        assert_eq!(t.data_files, BTreeSet::from([0, 1]));
        assert_eq!(t.meta, Some(Ok(b"3\n0,0\n1,10\n".to_vec())));
        assert_eq!(t.write_size, Some((1, 10)));
        assert!(!t.deferred && t.stale_tmp.is_empty());
        let c = scan.take("t:c");
        assert!(c.deferred && c.data_files.is_empty() && c.write_size.is_none());
        let mut stale = c.stale_tmp.clone();
        stale.sort_unstable();
        assert_eq!(
            stale,
            ["t:c.deferred.dat.77.tmp", "t:c.diskqueue.meta.dat.123.tmp"]
        );
        let u = scan.take("u");
        assert_eq!((u.meta, u.data_files), (None, BTreeSet::from([4])));
        assert_eq!(u.write_size, Some((4, 0)), "no metadata: the last file");
        assert_eq!(scan.take("absent"), QueueFiles::default());
        assert_eq!(scan.take("t"), QueueFiles::default(), "taken once");
    }

    #[test]
    fn split_by_owner() {
        let dir = nsq_test_support::TempDir::new("scan");
        for name in ["a.diskqueue.000000.dat", "b.diskqueue.000000.dat"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let scan = DirScan::read(dir.path(), 1).unwrap();
        let mut parts = scan.split(2, |q| usize::from(q == "b"));
        assert_eq!(parts[0].queue_names().collect::<Vec<_>>(), ["a"]);
        assert_eq!(parts[1].take("b").data_files, BTreeSet::from([0]));
    }
}
