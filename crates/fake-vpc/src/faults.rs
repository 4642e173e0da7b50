//! Injected faults: for the next N API calls of one action (or of every action), answer an
//! error code, HTTP 500, a garbage body, a delay, or drop the connection.

use std::time::Duration;

use serde::Deserialize;

/// What to do instead of (or before) answering a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer the API error envelope with this code and message (HTTP 200, as the real
    /// service does).
    ApiError(String, String),
    /// Answer HTTP 500 with an HTML body.
    Http500,
    /// Answer HTTP 200 `application/json` with a body that is not JSON.
    Garbage,
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Close the connection without answering.
    Drop,
}

/// `count` calls of `action` (`None`: any API action; `Some("metadata")`: metadata requests)
/// get `fault`. Specs are consumed in the order they were injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpec {
    pub action: Option<String>,
    pub count: u32,
    pub fault: Fault,
}

/// The queue of injected faults.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    specs: Vec<FaultSpec>,
}

impl Faults {
    pub fn push(&mut self, spec: FaultSpec) {
        if spec.count > 0 {
            self.specs.push(spec);
        }
    }

    pub fn clear(&mut self) {
        self.specs.clear();
    }

    pub fn pending(&self) -> Vec<FaultSpec> {
        self.specs.clone()
    }

    /// Takes one use of the first spec matching `action`. `metadata` requests match only specs
    /// that name `"metadata"`.
    pub fn take(&mut self, action: &str, metadata: bool) -> Option<Fault> {
        let pos = self.specs.iter().position(|s| match &s.action {
            None => !metadata,
            Some(a) => (metadata && a == "metadata") || (!metadata && a == action),
        })?;
        let spec = &mut self.specs[pos];
        let fault = spec.fault.clone();
        spec.count -= 1;
        if spec.count == 0 {
            self.specs.remove(pos);
        }
        Some(fault)
    }
}

/// The control endpoint's JSON form of a fault:
/// `{"kind":"api_error","code":"...","message":"..."}`, `{"kind":"http500"}`,
/// `{"kind":"garbage"}`, `{"kind":"delay","ms":500}`, `{"kind":"drop"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum FaultJson {
    ApiError {
        code: String,
        #[serde(default)]
        message: Option<String>,
    },
    Http500,
    Garbage,
    Delay {
        ms: u64,
    },
    Drop,
}

impl From<FaultJson> for Fault {
    fn from(f: FaultJson) -> Fault {
        match f {
            FaultJson::ApiError { code, message } => {
                let message = message.unwrap_or_else(|| format!("Injected fault: {code}."));
                Fault::ApiError(code, message)
            }
            FaultJson::Http500 => Fault::Http500,
            FaultJson::Garbage => Fault::Garbage,
            FaultJson::Delay { ms } => Fault::Delay(Duration::from_millis(ms)),
            FaultJson::Drop => Fault::Drop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_matching() {
        let mut f = Faults::default();
        f.push(FaultSpec {
            action: Some("A".into()),
            count: 2,
            fault: Fault::Http500,
        });
        f.push(FaultSpec {
            action: None,
            count: 1,
            fault: Fault::Drop,
        });
        assert_eq!(f.take("B", false), Some(Fault::Drop));
        assert_eq!(f.take("B", false), None);
        assert_eq!(f.take("A", true), None);
        assert_eq!(f.take("A", false), Some(Fault::Http500));
        assert_eq!(f.take("A", false), Some(Fault::Http500));
        assert_eq!(f.take("A", false), None);
    }
}
