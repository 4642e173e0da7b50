//! Command-line values over the file's, each parsed and validated as the file's value is.

use std::path::PathBuf;

use super::values::{parse_log_level, parse_log_target};
use super::{Config, ConfigError};

/// Command-line values that override the file. Strings are parsed and validated by
/// [`Config::apply`] exactly as the file's values are.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--region` → `cloud.region`
    pub region: Option<String>,
    /// `--endpoint` → `cloud.endpoint`
    pub endpoint: Option<String>,
    /// `--state-dir` → `state.dir`
    pub state_dir: Option<PathBuf>,
    /// `--log` → `log.target`
    pub log_target: Option<String>,
    /// `--log-level` → `log.level`
    pub log_level: Option<String>,
}

impl Config {
    /// Applies command-line overrides, validating each value as if it were in the file.
    pub fn apply(&mut self, o: &Overrides) -> Result<(), ConfigError> {
        let path = self.path.clone();
        let bad = |key: &str, msg: String| {
            ConfigError::invalid(&path, format!("{key} (from the command line)"), msg)
        };
        if let Some(v) = &o.region {
            self.cloud.region = Some(v.parse().map_err(|m| bad("cloud.region", m))?);
        }
        if let Some(v) = &o.endpoint {
            self.cloud.endpoint = v
                .parse()
                .map_err(|m: tencent_api::EndpointError| bad("cloud.endpoint", m.to_string()))?;
        }
        if let Some(v) = &o.state_dir {
            if !v.is_absolute() {
                return Err(bad(
                    "state.dir",
                    format!("expected an absolute path, found {v:?}"),
                ));
            }
            self.state.dir = v.clone();
        }
        if let Some(v) = &o.log_target {
            self.log.target = parse_log_target(v).map_err(|m| bad("log.target", m))?;
        }
        if let Some(v) = &o.log_level {
            self.log.level = parse_log_level(v).map_err(|m| bad("log.level", m))?;
        }
        Ok(())
    }
}
