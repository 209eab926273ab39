//! The shard side of dead letters: the requests other shards (the HTTP
//! handlers, a redrive) send a topic's owner through its inbox, how a
//! channel gets its setting (its own, or `--max-attempts`), and what
//! `/stats` and `nsqd.dat` show of it.

use std::rc::Rc;

use nsq_protocol::names::is_ephemeral;

use crate::channel::Channel;
use crate::deadletter::redrive::{self, RedriveError};
use crate::deadletter::state::DeadLetters;
use crate::deadletter::{resolve, DeadLetterConfig, Setting};
use crate::message::Message;
use crate::shard::admin::{AdminError, ChannelRef};
use crate::shard::Shard;

/// A dead-letter request to the shard that owns the topic named in it.
#[derive(Debug)]
pub(crate) enum Request {
    /// `/channel/config`: set a channel's own setting.
    Configure {
        /// The channel.
        channel: ChannelRef,
        /// Its new setting.
        setting: Setting,
        /// Where the result goes.
        reply: flume::Sender<Result<(), AdminError>>,
    },
    /// The channel's dead-letter topic, if it has one (a redrive asks).
    TopicOf {
        /// The channel.
        channel: ChannelRef,
        /// Where the answer goes.
        reply: flume::Sender<Result<Option<String>, AdminError>>,
    },
    /// Move the messages of `dead_topic` (owned here) into `target`.
    Redrive {
        /// The dead-letter topic.
        dead_topic: String,
        /// The channel they go back to.
        target: ChannelRef,
        /// How many moved, once done.
        reply: flume::Sender<Result<u64, RedriveError>>,
    },
    /// Put redriven messages into a channel of a topic owned here.
    Put {
        /// The channel.
        channel: ChannelRef,
        /// The messages (new IDs and attempts are given here).
        messages: Vec<Message>,
        /// Answered once they are written (with `--sync-every=1`, fsynced).
        reply: flume::Sender<Result<(), RedriveError>>,
    },
}

impl Shard {
    /// Serve a dead-letter request (this shard owns its topic).
    pub(crate) fn serve_dead_letter(self: &Rc<Self>, request: Request) {
        match request {
            Request::Configure {
                channel,
                setting,
                reply,
            } => {
                let _ = reply.send(self.configure_dead_letters(&channel, setting));
            }
            Request::TopicOf { channel, reply } => {
                let _ = reply.send(self.dead_letter_topic_of(&channel));
            }
            Request::Redrive {
                dead_topic,
                target,
                reply,
            } => {
                let shard = self.clone();
                glommio::spawn_local(async move {
                    let _ = reply.send(redrive::run(shard, dead_topic, target).await);
                })
                .detach();
            }
            Request::Put {
                channel,
                messages,
                reply,
            } => {
                let shard = self.clone();
                glommio::spawn_local(async move {
                    let _ = reply.send(redrive::put(&shard, &channel, messages).await);
                })
                .detach();
            }
        }
    }

    /// Give a channel its own setting (`/channel/config`, `nsqd.dat`).
    pub(crate) fn configure_dead_letters(
        &self,
        c: &ChannelRef,
        setting: Setting,
    ) -> Result<(), AdminError> {
        let channel = self.find_channel(c)?;
        let mut channel = channel.borrow_mut();
        crate::log!(
            Info,
            "CHANNEL({}:{}): max attempts {}{}",
            c.topic,
            c.channel,
            setting.max_attempts,
            setting
                .topic
                .as_deref()
                .map_or(String::new(), |t| format!(", dead letters to {t}"))
        );
        self.apply_dead_letters(&c.topic, &mut channel, Some(setting));
        if !is_ephemeral(&c.topic) && !is_ephemeral(&c.channel) {
            self.ctx.metadata_changed();
        }
        Ok(())
    }

    /// A new channel: `--max-attempts` applies, if given.
    pub(crate) fn default_dead_letters(&self, topic: &str, channel: &mut Channel) {
        if self.ctx.opts.flags.max_attempts > 0 {
            self.apply_dead_letters(topic, channel, None);
        }
    }

    /// What applies to `channel` with its own `setting` (or, `None`, the
    /// `--max-attempts` default).
    fn apply_dead_letters(&self, topic: &str, channel: &mut Channel, setting: Option<Setting>) {
        let active = match &setting {
            Some(s) => s.config(),
            None => self.default_config(topic, &channel.name),
        };
        match &mut channel.dead_letters {
            Some(d) => {
                d.setting = setting;
                d.active = active;
            }
            None if setting.is_some() || active.is_some() => {
                channel.dead_letters = Some(Box::new(DeadLetters::new(
                    setting,
                    active,
                    self.dead_letter_mover.clone(),
                )));
            }
            None => {}
        }
    }

    /// The `--max-attempts` configuration of a channel: none when the flag
    /// is 0, or when `<topic>.<channel>.dead` is no topic name (ephemeral,
    /// too long).
    fn default_config(&self, topic: &str, channel: &str) -> Option<DeadLetterConfig> {
        let max_attempts = self.ctx.opts.flags.max_attempts;
        if max_attempts == 0 {
            return None;
        }
        match resolve(topic, channel, None) {
            Ok(name) => Setting {
                max_attempts,
                topic: Some(name),
            }
            .config(),
            Err(e) => {
                crate::log!(
                    Debug,
                    "CHANNEL({topic}:{channel}): --max-attempts does not apply - {}",
                    e.code()
                );
                None
            }
        }
    }

    pub(crate) fn dead_letter_topic_of(
        &self,
        c: &ChannelRef,
    ) -> Result<Option<String>, AdminError> {
        let channel = self.find_channel(c)?;
        let channel = channel.borrow();
        let Some(d) = &channel.dead_letters else {
            return Ok(None);
        };
        let configured = d.active.as_ref().map(|a| a.topic.as_str().to_string());
        Ok(configured.or_else(|| d.setting.as_ref().and_then(|s| s.topic.clone())))
    }
}

/// What `/stats` shows of a channel's dead letters: `max_attempts`,
/// `dead_letter_topic`, `dead_letter_count` (all `None` by default).
pub(crate) fn figures(channel: &Channel) -> (Option<u16>, Option<String>, Option<u64>) {
    match &channel.dead_letters {
        Some(d) if d.is_visible() => (
            Some(d.active.as_ref().map_or(0, |a| a.max_attempts)),
            d.active.as_ref().map(|a| a.topic.as_str().to_string()),
            Some(d.count),
        ),
        _ => (None, None, None),
    }
}

/// A channel's own setting, for `nsqd.dat`.
pub(crate) fn setting_of(channel: &Channel) -> Option<Setting> {
    channel
        .dead_letters
        .as_ref()
        .and_then(|d| d.setting.clone())
}
