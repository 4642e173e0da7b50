//! The error an API action answers with (`Response.Error`): a leaf module, so that the
//! handlers, the signature check, the CAM refusals and the shared state can all name it
//! without depending on one another.

/// An API error: answered as `Response.Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            code: code.to_string(),
            message: message.into(),
        }
    }
}
