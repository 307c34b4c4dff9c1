//! Carrying a [`KeyMachine`]'s commands out over a host: the loop every host shares (the
//! proxy-wasm shell, the native tests, the fleet simulation). It takes no decision: it
//! performs each command and hands its answer back as the next event.

use super::machine::{Command, Event, Lifecycle, Log, SharedValue};
use super::FetchFailure;

/// What the machine needs of its host.
pub trait KeyHost {
    /// Reads a shared-data entry; `None` when the host refuses the read.
    fn read(&mut self, key: &str) -> Option<SharedValue>;
    /// Writes a shared-data entry by compare-and-swap (`None`: unconditionally); whether it
    /// was written.
    fn write(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> bool;
    /// Dispatches a GET through `cluster`; the call's token, or `None` if the host refused.
    fn dispatch(
        &mut self,
        cluster: &str,
        authority: &str,
        path: &str,
        timeout_ms: u64,
    ) -> Option<u32>;
    /// The body of the call whose answer is being delivered.
    fn read_body(&mut self, size: usize) -> Option<Vec<u8>>;
    fn log(&mut self, log: &Log);
}

/// What a run changed that the rest of the VM acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// The record moved (new keys, or an attempt finished): parked requests should re-run.
    pub record_changed: bool,
    /// This VM's key set changed: drop cached verifications.
    pub keys_replaced: bool,
    /// A fetch finished in this VM with this outcome (for metrics).
    pub fetched: Option<Result<(), FetchFailure>>,
}

/// Host queries one event may lead to, at most: a publish that loses every compare-and-swap
/// makes the longest chain (about a dozen); the bound only guards against a machine bug
/// turning into an endless loop in the VM.
const MAX_ROUNDS: usize = 64;

impl Lifecycle {
    /// Feeds `event` at `now_ms` and carries out every command that follows from it.
    pub fn run(&mut self, host: &mut dyn KeyHost, now_ms: u64, event: Event) -> Progress {
        let mut progress = Progress::default();
        let mut next = Some(event);
        for _ in 0..MAX_ROUNDS {
            let Some(event) = next.take() else {
                break;
            };
            for command in self.handle(now_ms, event) {
                next = self.perform(host, command, &mut progress).or(next);
            }
        }
        progress
    }

    fn perform(
        &self,
        host: &mut dyn KeyHost,
        command: Command,
        progress: &mut Progress,
    ) -> Option<Event> {
        let plan = self.plan();
        match command {
            Command::ReadRecord => Some(Event::Record(host.read(&plan.record_key))),
            Command::ReadLease => Some(Event::Lease(host.read(&plan.lease_key))),
            Command::WriteLease { value, cas } => Some(Event::LeaseWritten(host.write(
                &plan.lease_key,
                &value,
                cas,
            ))),
            Command::PublishRecord { bytes, cas } => {
                Some(Event::Published(host.write(&plan.record_key, &bytes, cas)))
            }
            Command::Dispatch { authority, path } => Some(Event::Dispatched(host.dispatch(
                &plan.cluster,
                &authority,
                &path,
                plan.timeout_ms,
            ))),
            Command::ReadBody { size } => Some(Event::ResponseBody(host.read_body(size))),
            Command::KeysReplaced => {
                progress.keys_replaced = true;
                None
            }
            Command::WakeParked => {
                progress.record_changed = true;
                None
            }
            Command::Fetched(result) => {
                progress.fetched = Some(result);
                None
            }
            Command::Log(log) => {
                host.log(&log);
                None
            }
        }
    }
}
