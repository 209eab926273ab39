//! The bodies of one publish: one (PUB, DPUB) or many (MPUB), without
//! allocating for one. Each is a [`Bytes`] slice of the buffer it arrived
//! in, shared (never copied) by every channel's copy of its message.

use bytes::Bytes;

/// One body (PUB, DPUB) or many (MPUB), without allocating for one.
#[derive(Debug)]
pub(crate) enum Bodies {
    /// PUB / DPUB.
    One(Bytes),
    /// MPUB.
    Many(Vec<Bytes>),
}

impl Bodies {
    /// Number of messages.
    pub(crate) fn len(&self) -> usize {
        match self {
            Bodies::One(_) => 1,
            Bodies::Many(v) => v.len(),
        }
    }
}

impl IntoIterator for Bodies {
    type Item = Bytes;
    type IntoIter = BodiesIter;
    fn into_iter(self) -> BodiesIter {
        match self {
            Bodies::One(b) => BodiesIter::One(Some(b)),
            Bodies::Many(v) => BodiesIter::Many(v.into_iter()),
        }
    }
}

/// Iterator over [`Bodies`].
#[derive(Debug)]
pub(crate) enum BodiesIter {
    /// One body.
    One(Option<Bytes>),
    /// Many.
    Many(std::vec::IntoIter<Bytes>),
}

impl Iterator for BodiesIter {
    type Item = Bytes;
    fn next(&mut self) -> Option<Bytes> {
        match self {
            BodiesIter::One(b) => b.take(),
            BodiesIter::Many(it) => it.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match self {
            BodiesIter::One(b) => usize::from(b.is_some()),
            BodiesIter::Many(it) => it.len(),
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for BodiesIter {}
