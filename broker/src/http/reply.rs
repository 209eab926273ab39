//! HTTP replies in NSQ's "V1" format (docs/http-api.md#conventions); the type
//! is shared with nsqlookupd and lives in `nsq_protocol::http`.

pub(crate) use nsq_protocol::http::Reply;
