//! nsq_to_file's per-topic file logger (docs/utilities.md#nsq_to_file): file
//! naming tokens, revisions, work dir → output dir moves, gzip members, size /
//! interval / datetime rotation, SIGHUP, and the durability contract: a message
//! is FINed only after the bytes holding it are fsynced.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::client::{Consumer, Message};
use crate::strftime;

/// The options that shape files.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--output-dir`.
    pub output_dir: PathBuf,
    /// `--work-dir` (already defaulted to the output dir).
    pub work_dir: PathBuf,
    /// `--datetime-format`.
    pub datetime_format: String,
    /// `--filename-format`.
    pub filename_format: String,
    /// `--host-identifier` (empty: short hostname).
    pub host_identifier: String,
    /// `--gzip`.
    pub gzip: bool,
    /// `--gzip-level`.
    pub gzip_level: u32,
    /// `--rotate-size` (0: off).
    pub rotate_size: u64,
    /// `--rotate-interval` (0: off).
    pub rotate_interval: Duration,
    /// `--skip-empty-files`.
    pub skip_empty_files: bool,
    /// `--sync-interval`.
    pub sync_interval: Duration,
    /// `--max-in-flight`.
    pub max_in_flight: usize,
    /// `--channel` (for log lines).
    pub channel: String,
}

/// Why a logger cannot run.
#[derive(Debug)]
pub struct FileError(pub String);

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn ferr(what: impl std::fmt::Display, e: impl std::fmt::Display) -> FileError {
    FileError(format!("{what}: {e}"))
}

impl Options {
    /// Whether `<REV>` is needed (gzip, rotation or a separate work dir).
    pub fn needs_rev(&self) -> bool {
        self.gzip
            || self.rotate_size > 0
            || !self.rotate_interval.is_zero()
            || self.work_dir != self.output_dir
    }

    /// Check the filename format (NSQ's rule and error text).
    pub fn validate(&self) -> Result<(), FileError> {
        if self.needs_rev() && !self.filename_format.contains("<REV>") {
            return Err(FileError(
                "missing <REV> in --filename-format when gzip, rotation, or work dir enabled"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The host identifier with `<SHORT_HOST>` / `<HOSTNAME>` expanded.
    pub fn identifier(&self) -> String {
        let host = crate::client::config::hostname();
        let short = crate::client::config::short_hostname();
        if self.host_identifier.is_empty() {
            return short;
        }
        self.host_identifier
            .replace("<SHORT_HOST>", &short)
            .replace("<HOSTNAME>", &host)
    }

    /// The topic's filename format: every token but `<DATETIME>` and
    /// `<REV>` expanded, `<REV>` dropped when not needed, `.gz` added.
    pub fn topic_format(&self, topic: &str) -> String {
        let mut f = self
            .filename_format
            .replace("<TOPIC>", topic)
            .replace("<HOST>", &self.identifier())
            .replace("<PID>", &std::process::id().to_string());
        if !self.needs_rev() {
            f = f.replace("<REV>", "");
        }
        if self.gzip && !f.ends_with(".gz") {
            f.push_str(".gz");
        }
        f
    }
}

/// `<REV>` → `-NNNNNN`.
pub fn with_rev(name: &str, rev: u32) -> String {
    name.replace("<REV>", &format!("-{rev:06}"))
}

enum Out {
    Plain(BufWriter<File>),
    Gzip(GzEncoder<BufWriter<File>>),
}

/// One topic's current file.
pub struct FileLogger {
    topic: String,
    opts: Options,
    format: String,
    filename: String,
    rev: u32,
    out: Option<Out>,
    path: PathBuf,
    size: u64,
    written: u64,
    open_time: Instant,
}

impl FileLogger {
    /// A logger for `topic`; nothing is opened before the first message.
    pub fn new(topic: &str, opts: Options) -> Result<FileLogger, FileError> {
        opts.validate()?;
        Ok(FileLogger {
            topic: topic.to_string(),
            format: opts.topic_format(topic),
            opts,
            filename: String::new(),
            rev: 0,
            out: None,
            path: PathBuf::new(),
            size: 0,
            written: 0,
            open_time: Instant::now(),
        })
    }

    /// An info line about this topic, led by `[topic/channel]` as NSQ's.
    fn log_info(&self, s: &str) {
        crate::log::info(&format!("[{}/{}] {s}", self.topic, self.opts.channel));
    }

    /// A warning about this topic.
    fn log_warn(&self, s: &str) {
        crate::log::warn(&format!("[{}/{}] {s}", self.topic, self.opts.channel));
    }

    fn current_filename(&self) -> String {
        let dt = strftime::format(&self.opts.datetime_format, &strftime::now());
        self.format.replace("<DATETIME>", &dt)
    }

    /// Whether the next write must go to a new file.
    pub fn needs_rotation(&self) -> bool {
        if self.out.is_none() {
            return true;
        }
        if self.current_filename() != self.filename {
            return true;
        }
        if !self.opts.rotate_interval.is_zero()
            && self.open_time.elapsed() > self.opts.rotate_interval
        {
            return true;
        }
        self.opts.rotate_size > 0 && self.size > self.opts.rotate_size
    }

    /// Close the current file (if any) and open the next one.
    pub fn update_file(&mut self) -> Result<(), FileError> {
        self.close()?;
        let name = self.current_filename();
        if name != self.filename {
            self.rev = 0;
        } else {
            self.rev += 1;
        }
        self.filename = name;
        self.open_time = Instant::now();
        let full = self.opts.work_dir.join(&self.filename);
        make_parent(&full)?;
        loop {
            let path = PathBuf::from(with_rev(&full.to_string_lossy(), self.rev));
            if self.opts.work_dir != self.opts.output_dir {
                let dst = self.output_path_for(self.rev);
                make_parent(&dst)?;
                if dst.exists() {
                    self.log_warn(&format!("output file already exists: {}", dst.display()));
                    self.rev += 1;
                    continue;
                }
            }
            let mut oo = OpenOptions::new();
            oo.write(true);
            if self.opts.gzip || !self.opts.rotate_interval.is_zero() {
                oo.create_new(true);
            } else {
                oo.create(true).append(true);
            }
            let file = match oo.open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    self.log_warn(&format!("working file already exists: {}", path.display()));
                    self.rev += 1;
                    continue;
                }
                Err(e) => return Err(ferr(format!("unable to open {}", path.display()), e)),
            };
            let size = file
                .metadata()
                .map_err(|e| ferr(format!("unable to stat {}", path.display()), e))?
                .len();
            if self.opts.rotate_size > 0 && size > self.opts.rotate_size {
                self.log_info(&format!(
                    "{} currently {size} bytes (> {}), rotating...",
                    path.display(),
                    self.opts.rotate_size
                ));
                self.rev += 1;
                continue;
            }
            self.log_info(&format!("opening {}", path.display()));
            self.size = size;
            self.written = 0;
            self.path = path;
            let w = BufWriter::with_capacity(64 * 1024, file);
            self.out = Some(if self.opts.gzip {
                Out::Gzip(GzEncoder::new(w, Compression::new(self.opts.gzip_level)))
            } else {
                Out::Plain(w)
            });
            return Ok(());
        }
    }

    fn output_path_for(&self, rev: u32) -> PathBuf {
        PathBuf::from(with_rev(
            &self.opts.output_dir.join(&self.filename).to_string_lossy(),
            rev,
        ))
    }

    /// Append one message body and a newline.
    pub fn write(&mut self, body: &[u8]) -> Result<(), FileError> {
        let r = match self.out.as_mut() {
            Some(Out::Plain(w)) => w.write_all(body).and_then(|_| w.write_all(b"\n")),
            Some(Out::Gzip(g)) => g.write_all(body).and_then(|_| g.write_all(b"\n")),
            None => return Err(FileError("no open file".into())),
        };
        r.map_err(|e| ferr(format!("writing to {}", self.path.display()), e))?;
        self.size += body.len() as u64 + 1;
        self.written += body.len() as u64 + 1;
        Ok(())
    }

    /// Make everything written so far durable: end the gzip member (a new
    /// one starts), flush, fsync.
    pub fn sync(&mut self) -> Result<(), FileError> {
        let path = self.path.display().to_string();
        let level = Compression::new(self.opts.gzip_level);
        match self.out.take() {
            None => Ok(()),
            Some(Out::Plain(mut w)) => {
                w.flush()
                    .and_then(|_| w.get_ref().sync_all())
                    .map_err(|e| ferr(format!("syncing {path}"), e))?;
                self.out = Some(Out::Plain(w));
                Ok(())
            }
            Some(Out::Gzip(g)) => {
                let mut w = g
                    .finish()
                    .map_err(|e| ferr(format!("ending gzip member of {path}"), e))?;
                w.flush()
                    .and_then(|_| w.get_ref().sync_all())
                    .map_err(|e| ferr(format!("syncing {path}"), e))?;
                self.out = Some(Out::Gzip(GzEncoder::new(w, level)));
                Ok(())
            }
        }
    }

    /// Sync and close the file; move it to the output dir when a work dir
    /// is used (never overwriting: the revision is bumped), or remove it
    /// when empty and `--skip-empty-files`.
    pub fn close(&mut self) -> Result<(), FileError> {
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let path = self.path.clone();
        let shown = path.display().to_string();
        let w = match out {
            Out::Plain(w) => w,
            Out::Gzip(g) => g
                .finish()
                .map_err(|e| ferr(format!("closing gzip {shown}"), e))?,
        };
        let file = w
            .into_inner()
            .map_err(|e| ferr(format!("flushing {shown}"), e.error().to_string()))?;
        file.sync_all()
            .map_err(|e| ferr(format!("syncing {shown}"), e))?;
        drop(file);
        if self.opts.skip_empty_files && self.written == 0 {
            self.log_info(&format!("removing empty file {shown}"));
            let _ = std::fs::remove_file(&path);
            return Ok(());
        }
        if self.opts.work_dir != self.opts.output_dir {
            let mut rev = self.rev;
            loop {
                let dst = self.output_path_for(rev);
                self.log_info(&format!(
                    "moving finished file {shown} to {}",
                    dst.display()
                ));
                // link + unlink: fails instead of overwriting.
                match std::fs::hard_link(&path, &dst) {
                    Ok(()) => {
                        std::fs::remove_file(&path)
                            .map_err(|e| ferr(format!("removing {shown}"), e))?;
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => rev += 1,
                    Err(e) => return Err(ferr(format!("moving {shown} to {}", dst.display()), e)),
                }
            }
        }
        Ok(())
    }
}

fn make_parent(p: &Path) -> Result<(), FileError> {
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| ferr(format!("unable to create dir {}", dir.display()), e))?;
    }
    Ok(())
}

/// What the router reacts to besides messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// SIGHUP: sync and close (the next message opens a new file).
    Hup,
    /// SIGINT/SIGTERM: stop the consumer, sync, close, return.
    Term,
}

/// The router loop of one topic (NSQ's `FileLogger.router`). Returns when
/// terminated and the consumer is closed; an error means messages may not
/// be durable and the process must exit (they will be redelivered).
pub fn route(
    mut fl: FileLogger,
    consumer: &Consumer,
    msgs: Receiver<Message>,
    events: Receiver<Event>,
) -> Result<(), FileError> {
    let mut pending: Vec<Message> = Vec::with_capacity(fl.opts.max_in_flight);
    let mut next_tick = Instant::now() + fl.opts.sync_interval;
    let mut terminating = false;
    loop {
        let mut sync = false;
        let mut close = false;
        match events.try_recv() {
            Ok(Event::Hup) => {
                sync = true;
                close = true;
            }
            Ok(Event::Term) if !terminating => {
                terminating = true;
                consumer.stop();
                sync = true;
            }
            _ => {}
        }
        let wait = if terminating {
            Duration::from_millis(50)
        } else {
            next_tick
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100))
        };
        match msgs.recv_timeout(wait) {
            Ok(m) => {
                if fl.needs_rotation() {
                    fl.update_file()?;
                    sync = true;
                }
                fl.write(&m.body).map_err(|e| {
                    FileError(format!(
                        "[{}/{}] writing message to disk: {e}",
                        fl.topic, fl.opts.channel
                    ))
                })?;
                pending.push(m);
                if pending.len() >= fl.opts.max_in_flight {
                    sync = true;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                terminating = true;
                sync = true;
            }
        }
        if Instant::now() >= next_tick {
            next_tick = Instant::now() + fl.opts.sync_interval;
            if fl.out.is_some() && fl.needs_rotation() {
                if fl.opts.skip_empty_files {
                    close = true;
                } else {
                    fl.update_file()?;
                }
            }
            sync = true;
        }
        if (sync || consumer.is_starved()) && !pending.is_empty() {
            fl.log_info(&format!("syncing {} records to disk", pending.len()));
            fl.sync()?;
            for m in pending.drain(..) {
                m.finish();
            }
        }
        if close {
            fl.close()?;
        }
        if terminating && pending.is_empty() && consumer.stats().connections == 0 {
            // Nothing can arrive any more: drain what is queued, then stop.
            let mut last = false;
            while let Ok(m) = msgs.try_recv() {
                if fl.needs_rotation() {
                    fl.update_file()?;
                }
                fl.write(&m.body)?;
                pending.push(m);
                last = true;
            }
            if last {
                fl.sync()?;
                for m in pending.drain(..) {
                    m.finish();
                }
            }
            fl.close()?;
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            output_dir: "/out".into(),
            work_dir: "/out".into(),
            datetime_format: "%Y".into(),
            filename_format: "<TOPIC>.<HOST><REV>.<DATETIME>.log".into(),
            host_identifier: "h".into(),
            gzip: false,
            gzip_level: 6,
            rotate_size: 0,
            rotate_interval: Duration::ZERO,
            skip_empty_files: false,
            sync_interval: Duration::from_secs(30),
            max_in_flight: 200,
            channel: "nsq_to_file".into(),
        }
    }

    #[test]
    fn naming() {
        let o = opts();
        assert!(!o.needs_rev());
        assert_eq!(o.topic_format("t"), "t.h.<DATETIME>.log");
        let o = Options {
            gzip: true,
            ..opts()
        };
        assert_eq!(o.topic_format("t"), "t.h<REV>.<DATETIME>.log.gz");
        assert_eq!(with_rev("t.h<REV>.log", 3), "t.h-000003.log");
        let o = Options {
            filename_format: "<TOPIC>.log".into(),
            rotate_size: 10,
            ..opts()
        };
        assert!(o.validate().unwrap_err().0.contains("missing <REV>"));
        let o = Options {
            work_dir: "/work".into(),
            filename_format: "<TOPIC>-<PID>.log".into(),
            ..opts()
        };
        assert!(o.validate().is_err());
        let o = Options {
            host_identifier: "x-<SHORT_HOST>".into(),
            ..opts()
        };
        assert!(o.identifier().starts_with("x-") && !o.identifier().contains('<'));
    }
}
