//! The dead-letter store: every operation that will never be delivered, as one JSON line with
//! the original event, the subscription, the status and Customer.io's answer. Files live under
//! `<data_dir>/dead-letters/<destination>.jsonl`; `cio-relay replay FILE` sends them again.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One dead letter.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeadLetter {
    /// RFC 3339 time it was written.
    pub time: String,
    pub destination: String,
    pub subscription: String,
    /// The action key (`trackEvent`, ...).
    pub action: String,
    /// Why: `refused` (Customer.io said no), `too_large`, `retries_exhausted`.
    pub reason: String,
    /// The HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// Customer.io's answer (the batch error entry, or the body's first 4 KiB).
    pub response: Value,
    /// The operation that was not delivered.
    pub operation: Value,
    /// The Segment event it was built from.
    pub event: Value,
}

/// Appends dead letters from any thread, writing on a thread of its own so the delivery path
/// never blocks on the file.
#[derive(Clone)]
pub struct DeadLetterWriter {
    tx: mpsc::Sender<DeadLetter>,
    path: PathBuf,
}

impl DeadLetterWriter {
    /// Opens (creating) `<dir>/<destination>.jsonl` for appending.
    pub fn open(dir: &Path, destination: &str) -> std::io::Result<DeadLetterWriter> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{destination}.jsonl"));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let (tx, rx) = mpsc::channel::<DeadLetter>();
        let thread_path = path.clone();
        std::thread::Builder::new()
            .name(format!("dead-letters-{destination}"))
            .spawn(move || write_loop(file, rx, &thread_path))?;
        Ok(DeadLetterWriter { tx, path })
    }

    /// Queues one dead letter for writing.
    pub fn write(&self, letter: DeadLetter) {
        if self.tx.send(letter).is_err() {
            tracing::error!(path = %self.path.display(), "Dead-letter writer has stopped; a dead letter was not written");
        }
    }
}

fn write_loop(file: File, rx: mpsc::Receiver<DeadLetter>, path: &Path) {
    let mut out = BufWriter::new(file);
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        for letter in batch {
            match serde_json::to_vec(&letter) {
                Ok(mut line) => {
                    line.push(b'\n');
                    if let Err(e) = out.write_all(&line) {
                        tracing::error!(path = %path.display(), error = %e, "Cannot write a dead letter");
                    }
                }
                Err(e) => tracing::error!(error = %e, "Cannot serialize a dead letter"),
            }
        }
        let synced = out.flush().and_then(|_| out.get_ref().sync_data());
        if let Err(e) = synced {
            tracing::error!(path = %path.display(), error = %e, "Cannot sync the dead-letter file");
        }
    }
}

/// Reads a JSONL file of dead letters or plain Segment events, for `replay`.
pub fn read_replay_file(path: &Path) -> std::io::Result<Vec<Result<ReplayItem, String>>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| match serde_json::from_str::<Value>(l) {
            Ok(v) => {
                if v.get("event").is_some_and(Value::is_object) && v.get("operation").is_some() {
                    Ok(ReplayItem {
                        destination: v
                            .get("destination")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        event: v["event"].clone(),
                    })
                } else if v.is_object() {
                    Ok(ReplayItem {
                        destination: None,
                        event: v,
                    })
                } else {
                    Err(format!("line {}: not a JSON object", n + 1))
                }
            }
            Err(e) => Err(format!("line {}: not JSON: {e}", n + 1)),
        })
        .collect())
}

/// One event to replay and, for a dead letter, the destination it failed at.
#[derive(Debug, Clone)]
pub struct ReplayItem {
    pub destination: Option<String>,
    pub event: Value,
}
