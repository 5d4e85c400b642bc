//! `<sync>/campaign.json`: what the last `run` in a sync dir was started with. Readers
//! (`status`) take the timeout from it, so they judge heartbeats by the master's rule.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Current [`CampaignFile`] version.
pub const CAMPAIGN_VERSION: u32 = 1;

/// The campaign description a master writes when it starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignFile {
    /// Format version ([`CAMPAIGN_VERSION`]).
    pub version: u32,
    /// Target name.
    pub target: String,
    /// The harness binary.
    pub harness: PathBuf,
    /// The node that wrote this file.
    pub node: String,
    /// Unix milliseconds when the campaign started.
    pub started_ms: u64,
    /// Random seed.
    pub seed: u64,
    /// Per-execution timeout.
    pub timeout_ms: u64,
    /// Memory limit (0 = none).
    pub rss_limit_mb: u64,
    /// Largest input.
    pub max_len: usize,
}

impl CampaignFile {
    /// Pretty JSON.
    pub fn encode(&self) -> String {
        serde_json::to_string_pretty(self).expect("CampaignFile always serialises")
    }

    /// Decodes, refusing other versions.
    pub fn decode(text: &str) -> Result<CampaignFile, String> {
        let c: CampaignFile = serde_json::from_str(text).map_err(|e| format!("malformed campaign.json: {e}"))?;
        if c.version != CAMPAIGN_VERSION {
            return Err(format!("campaign.json version {}, this protocrash reads {CAMPAIGN_VERSION}", c.version));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaign_file_round_trips_and_refuses_other_versions() {
        let c = CampaignFile {
            version: CAMPAIGN_VERSION,
            target: "parse".into(),
            harness: "/b/parse".into(),
            node: "host".into(),
            started_ms: 5,
            seed: 7,
            timeout_ms: 1000,
            rss_limit_mb: 2048,
            max_len: 4096,
        };
        assert_eq!(CampaignFile::decode(&c.encode()).unwrap(), c);
        let other = CampaignFile { version: 9, ..c };
        assert!(CampaignFile::decode(&other.encode()).unwrap_err().contains("version 9"));
    }
}
