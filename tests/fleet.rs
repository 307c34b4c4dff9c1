//! The fleet view: 10,000 proxies against one IdP through a 3-minute outage (`fleet/sim.rs`;
//! `make fleet` prints the figures). Retries must not synchronise.
//!
//! What is asserted, and why not more: proxies notice an outage one by one, when their own
//! refresh comes due, so the IdP's per-second load is Poisson-like (the steady state alone
//! has seconds at twice its average). During the outage every second stays within 1.5 times
//! the outage's average. The recovery's first seconds carry the retries that were due anyway
//! (the rate just after the IdP returns is the rate just before — whatever the jitter, the
//! retries of proxies that noticed the outage last are seconds apart), so the recovery is held
//! to the outage's bound rather than its own average; and the refreshes the recovery schedules
//! must not come back as a wave one interval later.

// Test helpers may panic: a panic here is a failed test.
#![allow(clippy::panic)]

#[path = "fleet/sim.rs"]
#[allow(dead_code)] // `report.rs` reads the rest
mod sim;

use std::sync::OnceLock;

use sim::{Phase, Report, Scenario};

fn busiest_second(report: &Report, phase: Phase) -> (u64, u32) {
    (phase.from_s..phase.to_s)
        .map(|second| {
            let seen = report
                .requests_per_second
                .get(second as usize)
                .copied()
                .unwrap_or(0);
            (second, seen)
        })
        .max_by_key(|&(_, seen)| seen)
        .unwrap_or((phase.from_s, 0))
}

/// The simulation runs once for every test of this file.
fn fleet() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| sim::run(Scenario::FLEET).unwrap_or_else(|error| panic!("{error}")))
}

#[test]
fn no_second_of_the_outage_sees_more_than_one_and_a_half_times_its_average() {
    let report = fleet();
    let outage = report.outage();
    assert!(
        outage.average > 2.0 * report.steady().average,
        "the outage adds retries"
    );
    let (second, seen) = busiest_second(report, outage);
    assert!(
        f64::from(seen) <= 1.5 * outage.average,
        "{seen} requests in second {second}, above 1.5 x {:.1}",
        outage.average
    );
}

#[test]
fn the_idps_return_brings_no_second_above_the_outages_bound() {
    let report = fleet();
    let outage = report.outage();
    let (second, seen) = busiest_second(report, report.recovery());
    assert!(
        f64::from(seen) <= 1.5 * outage.average,
        "{seen} requests in second {second} of the recovery, above 1.5 x {:.1}",
        outage.average
    );
}

#[test]
fn the_refreshes_after_the_recovery_do_not_come_back_as_a_wave() {
    let report = fleet();
    let steady = report.steady();
    let (second, seen) = busiest_second(report, report.after());
    assert!(
        f64::from(seen) <= 1.5 * f64::from(steady.peak),
        "{seen} requests in second {second}, above 1.5 x the steady peak {}",
        steady.peak
    );
}
