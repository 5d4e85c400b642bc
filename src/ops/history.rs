//! A campaign's history from its sync dir: every worker's `plot_data` samples and restarts,
//! and its findings placed in time (`campaign.json` says when the campaign started). What
//! `plot` draws and `status` lists.

use crate::plot::{parse_series, Event, Series};
use protocrash_proto::campaign::CampaignFile;
use protocrash_proto::layout::SyncDir;

/// The history of the campaign in `sync`.
pub struct History {
    pub series: Vec<Series>,
    /// Findings and restarts, in time order.
    pub events: Vec<Event>,
}

/// Reads the history (workers without readable files are left out).
pub fn read(sync: &SyncDir) -> History {
    let dirs = crate::aggregate::worker_dirs(sync);
    let start_ms = protocrash_proto::files::read_regular(&sync.campaign_file(), 1 << 20)
        .ok()
        .and_then(|b| CampaignFile::decode(&String::from_utf8_lossy(&b)).ok())
        .map(|c| c.started_ms);
    let mut series = Vec::new();
    let mut events = Vec::new();
    for d in &dirs {
        let name = d.name();
        if let Ok(bytes) = protocrash_proto::files::read_regular(&d.plot_data(), 256 << 20) {
            let s = parse_series(&name, &String::from_utf8_lossy(&bytes));
            events.extend(s.restarts.iter().map(|&t| Event { t, worker: name.clone(), finding: None }));
            series.push(s);
        }
        // Findings of earlier campaigns in the same dir are before this one's start: left out.
        for f in crate::aggregate::read_findings(d) {
            if let Some(start) = start_ms.filter(|&s| f.first_seen_ms >= s) {
                let at = if f.location.is_empty() { String::new() } else { format!(" at {}", f.location) };
                events.push(Event {
                    t: (f.first_seen_ms - start) as f64 / 1000.0,
                    worker: name.clone(),
                    finding: Some(format!("{}: {}{at}", f.kind.describe(), f.message)),
                });
            }
        }
    }
    events.sort_by(|a, b| a.t.total_cmp(&b.t));
    History { series, events }
}
