//! `make fleet`: the IdP's requests per second while a fleet of proxies lives through an
//! IdP outage (see `sim.rs`).

#[path = "sim.rs"]
mod sim;

fn main() {
    let scenario = sim::Scenario::FLEET;
    let report = match sim::run(scenario) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("fleet: {error}");
            std::process::exit(1);
        }
    };
    println!(
        "{} proxies deployed over {} s, default refresh settings; the IdP is down from {} s for {} s",
        scenario.proxies, scenario.deploy_window_s, scenario.outage_start_s, scenario.outage_s
    );
    println!("| phase | seconds | average requests/s | peak requests/s | peak / average |");
    println!("|---|---|---|---|---|");
    for (name, phase) in [
        ("steady (10 min before)", report.steady()),
        ("outage", report.outage()),
        ("recovery (until every proxy fetched)", report.recovery()),
        ("after recovery (to the end)", report.after()),
    ] {
        println!(
            "| {name} | {}–{} | {:.1} | {} | {:.2} |",
            phase.from_s,
            phase.to_s,
            phase.average,
            phase.peak,
            f64::from(phase.peak) / phase.average.max(f64::MIN_POSITIVE)
        );
    }
    println!();
    println!("requests per 10 s around the outage:");
    let from = scenario.outage_start_s.saturating_sub(60) as usize;
    let to = (report.recovery().to_s + 120) as usize;
    for start in (from..to).step_by(10) {
        let total: u32 = report
            .requests_per_second
            .get(start..start + 10)
            .unwrap_or_default()
            .iter()
            .sum();
        println!(
            "  {start:>5} s  {total:>5}  {}",
            "#".repeat((total / 20) as usize)
        );
    }
}
