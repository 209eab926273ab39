//! The error-code catalogue (docs/protocol.md#error-codes) and the typed client
//! errors the V2 protocol reports.
//!
//! Every error the server sends is an error frame whose body is
//! `"<CODE> <description>"`. [`ClientError`] carries both parts; its
//! [`Display`](std::fmt::Display) is exactly the frame body. Only
//! `E_FIN_FAILED`, `E_REQ_FAILED` and `E_TOUCH_FAILED` are non-fatal: after
//! any other error the server closes the connection.

use std::fmt;

/// A machine-readable NSQ error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Wrong 4-byte magic.
    BadProtocol,
    /// Unknown command, wrong state, missing parameters, bad numbers.
    Invalid,
    /// IDENTIFY/AUTH/MPUB body problems.
    BadBody,
    /// Invalid topic name.
    BadTopic,
    /// Invalid channel name.
    BadChannel,
    /// Per-message size problems.
    BadMessage,
    /// Feature negotiation failed.
    IdentifyFailed,
    /// SUB refused.
    SubFailed,
    /// PUB could not be enqueued.
    PubFailed,
    /// MPUB could not be enqueued.
    MpubFailed,
    /// DPUB could not be enqueued.
    DpubFailed,
    /// AUTH sent but auth is not configured.
    AuthDisabled,
    /// A command that needs AUTH came first.
    AuthFirst,
    /// The auth server failed.
    AuthFailed,
    /// Not permitted.
    Unauthorized,
    /// Failure sending the AUTH response.
    AuthError,
    /// FIN of an unknown or foreign message (non-fatal).
    FinFailed,
    /// REQ of an unknown or foreign message (non-fatal).
    ReqFailed,
    /// TOUCH of an unknown or foreign message (non-fatal).
    TouchFailed,
}

impl ErrorCode {
    /// The code exactly as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadProtocol => "E_BAD_PROTOCOL",
            ErrorCode::Invalid => "E_INVALID",
            ErrorCode::BadBody => "E_BAD_BODY",
            ErrorCode::BadTopic => "E_BAD_TOPIC",
            ErrorCode::BadChannel => "E_BAD_CHANNEL",
            ErrorCode::BadMessage => "E_BAD_MESSAGE",
            ErrorCode::IdentifyFailed => "E_IDENTIFY_FAILED",
            ErrorCode::SubFailed => "E_SUB_FAILED",
            ErrorCode::PubFailed => "E_PUB_FAILED",
            ErrorCode::MpubFailed => "E_MPUB_FAILED",
            ErrorCode::DpubFailed => "E_DPUB_FAILED",
            ErrorCode::AuthDisabled => "E_AUTH_DISABLED",
            ErrorCode::AuthFirst => "E_AUTH_FIRST",
            ErrorCode::AuthFailed => "E_AUTH_FAILED",
            ErrorCode::Unauthorized => "E_UNAUTHORIZED",
            ErrorCode::AuthError => "E_AUTH_ERROR",
            ErrorCode::FinFailed => "E_FIN_FAILED",
            ErrorCode::ReqFailed => "E_REQ_FAILED",
            ErrorCode::TouchFailed => "E_TOUCH_FAILED",
        }
    }

    /// Whether the server closes the connection after sending this error.
    pub fn is_fatal(self) -> bool {
        !matches!(
            self,
            ErrorCode::FinFailed | ErrorCode::ReqFailed | ErrorCode::TouchFailed
        )
    }

    /// Every code, for tests and documentation.
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::BadProtocol,
        ErrorCode::Invalid,
        ErrorCode::BadBody,
        ErrorCode::BadTopic,
        ErrorCode::BadChannel,
        ErrorCode::BadMessage,
        ErrorCode::IdentifyFailed,
        ErrorCode::SubFailed,
        ErrorCode::PubFailed,
        ErrorCode::MpubFailed,
        ErrorCode::DpubFailed,
        ErrorCode::AuthDisabled,
        ErrorCode::AuthFirst,
        ErrorCode::AuthFailed,
        ErrorCode::Unauthorized,
        ErrorCode::AuthError,
        ErrorCode::FinFailed,
        ErrorCode::ReqFailed,
        ErrorCode::TouchFailed,
    ];
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error reported to a client: a code plus the human description NSQ
/// sends after it. Allocates only on the error path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    code: ErrorCode,
    description: String,
}

impl ClientError {
    /// An error with a code and NSQ's description text.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        ClientError {
            code,
            description: description.into(),
        }
    }

    /// `E_INVALID <description>`.
    pub fn invalid(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::Invalid, description)
    }

    /// The wire code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The text after the code.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Whether the connection is closed after this error.
    pub fn is_fatal(&self) -> bool {
        self.code.is_fatal()
    }
}

impl fmt::Display for ClientError {
    /// The error frame body: `"<CODE> <description>"` (just the code when the
    /// description is empty, as for `E_BAD_PROTOCOL`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.description.is_empty() {
            f.write_str(self.code.as_str())
        } else {
            write!(f, "{} {}", self.code.as_str(), self.description)
        }
    }
}

impl std::error::Error for ClientError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_fin_req_touch_failures_are_non_fatal() {
        let non_fatal: Vec<_> = ErrorCode::ALL.iter().filter(|c| !c.is_fatal()).collect();
        assert_eq!(
            non_fatal,
            vec![
                &ErrorCode::FinFailed,
                &ErrorCode::ReqFailed,
                &ErrorCode::TouchFailed
            ]
        );
    }

    #[test]
    fn display_is_the_frame_body() {
        let e = ClientError::new(ErrorCode::BadMessage, "PUB message too big 105 > 100");
        assert_eq!(e.to_string(), "E_BAD_MESSAGE PUB message too big 105 > 100");
        assert_eq!(
            ClientError::new(ErrorCode::BadProtocol, "").to_string(),
            "E_BAD_PROTOCOL"
        );
    }

    #[test]
    fn codes_are_spelled_as_nsq_spells_them() {
        for c in ErrorCode::ALL {
            assert!(c.as_str().starts_with("E_"));
            assert_eq!(c.as_str(), c.as_str().to_ascii_uppercase());
        }
    }
}
