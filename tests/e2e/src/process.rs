//! Child processes that cannot outlive the test run.
//!
//! Every child is spawned with `PR_SET_PDEATHSIG = SIGKILL`, so the kernel kills it when its
//! parent goes away, even if the test binary itself is killed and no destructor runs. The
//! signal fires when the *thread* that forked the child exits, not the process, so children
//! are forked from one long-lived spawner thread that lives as long as the process.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, OnceLock};
use std::thread;

type SpawnRequest = (Command, Sender<io::Result<Child>>);

fn spawner() -> io::Result<Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<Mutex<Sender<SpawnRequest>>> = OnceLock::new();
    if let Some(tx) = SPAWNER.get() {
        return Ok(lock_sender(tx));
    }
    let (tx, rx) = mpsc::channel::<SpawnRequest>();
    thread::Builder::new()
        .name("child-spawner".into())
        .spawn(move || {
            for (mut command, reply) in rx {
                let _ = reply.send(command.spawn());
            }
        })?;
    // If another thread won the race, its spawner is used and ours exits with its channel.
    let tx = SPAWNER.get_or_init(|| Mutex::new(tx));
    Ok(lock_sender(tx))
}

fn lock_sender(tx: &Mutex<Sender<SpawnRequest>>) -> Sender<SpawnRequest> {
    match tx.lock() {
        Ok(t) => t.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

/// Spawns `command` so that it dies with this process.
pub fn spawn_tied(mut command: Command) -> io::Result<Child> {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2) and
    // getppid(2), both async-signal-safe; it touches no memory shared with the parent.
    unsafe {
        let parent = libc::getpid();
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody would signal us.
            if libc::getppid() != parent {
                return Err(io::Error::other("parent exited before the child started"));
            }
            Ok(())
        });
    }
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner()?
        .send((command, reply_tx))
        .map_err(|_| io::Error::other("the spawner thread has stopped"))?;
    reply_rx
        .recv()
        .map_err(|_| io::Error::other("the spawner thread has stopped"))?
}

/// Stops a child: SIGTERM, then SIGKILL if it is still running after `grace`.
pub fn stop(child: &mut Child, grace: std::time::Duration) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tied_child_runs_and_is_stopped() {
        let mut command = Command::new("sleep");
        command.arg("30");
        let mut child = spawn_tied(command).unwrap();
        assert!(child.try_wait().unwrap().is_none());
        stop(&mut child, std::time::Duration::from_secs(5));
        assert!(child.try_wait().unwrap().is_some());
    }
}
