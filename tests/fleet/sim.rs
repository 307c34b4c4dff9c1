//! A fleet of proxies against one IdP, simulated over the pure key machine.
//!
//! Each proxy is one Envoy process: one [`KeyMachine`] for the provider (its workers share
//! one fetch through the lease, so they add no load on the IdP), its own shared data, its own
//! clock (off by up to a second or two, as NTP leaves it) and its own tick phase (ticks every
//! second, from whenever the process started). Proxies start over a deployment window, as a
//! rolling deployment starts them. The IdP answers every call after a fixed latency, with the
//! key set, or with 503 while it is down. Time is simulated, events in order (a priority
//! queue), so 10,000 proxies over an hour take seconds.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::rc::Rc;

use claimcheck::config::{self, FetchPlan};
use claimcheck::keys::{Event, KeyHost, KeyMachine, Log, SharedValue};

/// What happens to the fleet.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub proxies: usize,
    /// Proxies start uniformly over this window (a rolling deployment).
    pub deploy_window_s: u64,
    /// Each proxy's clock is off by up to this much, either way.
    pub max_clock_offset_ms: u64,
    /// The IdP answers calls after this long.
    pub latency_ms: u64,
    pub outage_start_s: u64,
    pub outage_s: u64,
    /// The simulation ends here.
    pub end_s: u64,
    pub seed: u64,
}

impl Scenario {
    /// 10,000 proxies deployed over ten minutes (a rolling deployment), twenty minutes of
    /// steady state, a 3-minute IdP outage, then fifteen minutes to see the recovery's
    /// refreshes come round again.
    pub const FLEET: Scenario = Scenario {
        proxies: 10_000,
        deploy_window_s: 600,
        max_clock_offset_ms: 2_000,
        latency_ms: 40,
        outage_start_s: 1_800,
        outage_s: 180,
        end_s: 2_880,
        seed: 14,
    };

    fn outage_end_s(&self) -> u64 {
        self.outage_start_s + self.outage_s
    }
}

/// The provider every proxy runs: the defaults (`refresh` left out), keys from a JWKS URL.
const CONFIG: &str = r#"{
  "providers": {
    "idp": {
      "issuer": "https://idp.example",
      "audiences": "any",
      "algorithms": ["RS256"],
      "jwks": {"remote": {"cluster": "idp", "uri": "https://idp.example/jwks"}}
    }
  },
  "default": {"action": "require", "require": {"providers": {"any": ["idp"]}}}
}"#;

/// The key set the IdP publishes (Auth0's shape: RSA keys with certificates).
const JWKS: &[u8] = include_bytes!("../fixtures/idps/auth0/jwks.json");

pub fn default_plan() -> Result<FetchPlan, String> {
    let config = config::load(CONFIG.as_bytes()).map_err(|errors| errors.to_string())?;
    config
        .providers
        .first()
        .and_then(|provider| provider.fetch.clone())
        .ok_or_else(|| "the provider has remote keys".to_owned())
}

/// One proxy's host: its shared data and the call it has dispatched.
#[derive(Default)]
struct ProxyHost {
    entries: HashMap<String, (Vec<u8>, u32)>,
    next_cas: u32,
    /// A call dispatched during the current run, for the simulation to deliver.
    dispatched: Option<u32>,
    next_token: u32,
    /// The body of the answer being delivered.
    body: Vec<u8>,
}

impl KeyHost for ProxyHost {
    fn read(&mut self, key: &str) -> Option<SharedValue> {
        Some(match self.entries.get(key) {
            Some((bytes, cas)) => SharedValue {
                bytes: Some(bytes.clone()),
                cas: Some(*cas),
            },
            None => SharedValue::default(),
        })
    }

    fn write(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
        let current = self.entries.get(key).map(|(_, cas)| *cas);
        if cas.is_some() && cas != current {
            return false;
        }
        self.next_cas += 1;
        self.entries
            .insert(key.to_owned(), (value.to_vec(), self.next_cas));
        true
    }

    fn dispatch(&mut self, _: &str, _: &str, _: &str, _: u64) -> Option<u32> {
        self.next_token += 1;
        self.dispatched = Some(self.next_token);
        Some(self.next_token)
    }

    fn read_body(&mut self, size: usize) -> Option<Vec<u8>> {
        self.body.get(..size).map(<[u8]>::to_vec)
    }

    fn log(&mut self, _: &Log) {}
}

struct Proxy {
    machine: KeyMachine,
    host: ProxyHost,
    /// Local clock minus true time.
    offset_ms: i64,
    /// Ticks fire at true times `phase + k * 1000`.
    tick_phase_ms: u64,
    /// The true time of the wake-up this proxy has queued (stale queue entries are skipped).
    queued_ms: Option<u64>,
}

impl Proxy {
    fn local(&self, true_ms: u64) -> u64 {
        true_ms.saturating_add_signed(self.offset_ms)
    }

    /// The first tick at or after the true time of local `local_ms`.
    fn tick_at_or_after(&self, local_ms: u64) -> u64 {
        let wanted = local_ms.saturating_add_signed(-self.offset_ms);
        if wanted <= self.tick_phase_ms {
            return self.tick_phase_ms;
        }
        let since = wanted - self.tick_phase_ms;
        self.tick_phase_ms + since.div_ceil(1_000) * 1_000
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Happening {
    /// The IdP's answer to a proxy's call arrives.
    Answer,
    /// The proxy's tick.
    Tick,
}

/// Requests the IdP received in each second, and the phases of the scenario.
#[derive(Debug, Clone)]
pub struct Report {
    pub requests_per_second: Vec<u32>,
    pub scenario: Scenario,
    /// When every proxy had fetched successfully again after the outage.
    pub recovered_s: u64,
}

/// Average and peak requests per second over a span of seconds.
#[derive(Debug, Clone, Copy)]
pub struct Phase {
    pub from_s: u64,
    pub to_s: u64,
    pub average: f64,
    pub peak: u32,
}

impl Report {
    pub fn phase(&self, from_s: u64, to_s: u64) -> Phase {
        let seconds = self
            .requests_per_second
            .get(from_s as usize..to_s as usize)
            .unwrap_or_default();
        let total: u64 = seconds.iter().map(|&n| u64::from(n)).sum();
        Phase {
            from_s,
            to_s,
            average: total as f64 / seconds.len().max(1) as f64,
            peak: seconds.iter().copied().max().unwrap_or(0),
        }
    }

    /// The ten minutes before the outage (the deployment settled).
    pub fn steady(&self) -> Phase {
        let s = &self.scenario;
        self.phase(s.outage_start_s.saturating_sub(600), s.outage_start_s)
    }

    pub fn outage(&self) -> Phase {
        let s = &self.scenario;
        self.phase(s.outage_start_s, s.outage_end_s())
    }

    /// From the IdP's return until every proxy has fetched again.
    pub fn recovery(&self) -> Phase {
        let s = &self.scenario;
        self.phase(s.outage_end_s(), self.recovered_s.max(s.outage_end_s() + 1))
    }

    /// After the recovery, to the end: the refreshes the recovery scheduled.
    pub fn after(&self) -> Phase {
        let end = self.scenario.end_s;
        self.phase(self.recovery().to_s, end)
    }
}

/// A small deterministic generator (SplitMix64) for start times, offsets and phases.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

pub fn run(scenario: Scenario) -> Result<Report, String> {
    let plan = Rc::new(default_plan()?);
    let mut random = Random(scenario.seed);
    let end_ms = scenario.end_s * 1_000;
    let outage = (scenario.outage_start_s * 1_000)..(scenario.outage_end_s() * 1_000);
    let mut queue: BinaryHeap<Reverse<(u64, Happening, usize)>> = BinaryHeap::new();
    let mut proxies: Vec<Proxy> = Vec::with_capacity(scenario.proxies);
    for index in 0..scenario.proxies {
        let start_ms = random.below(scenario.deploy_window_s * 1_000);
        let spread = scenario.max_clock_offset_ms * 2 + 1;
        let offset_ms = random.below(spread) as i64 - scenario.max_clock_offset_ms as i64;
        let mut proxy = Proxy {
            machine: KeyMachine::new(plan.clone(), random.next()),
            host: ProxyHost::default(),
            offset_ms,
            tick_phase_ms: start_ms,
            queued_ms: Some(start_ms),
        };
        let local = proxy.local(start_ms);
        proxy.machine.run(&mut proxy.host, local, Event::Start);
        proxies.push(proxy);
        queue.push(Reverse((start_ms, Happening::Tick, index)));
    }
    let mut per_second = vec![0u32; scenario.end_s as usize + 1];
    let mut waiting_for_recovery: Vec<bool> = vec![false; scenario.proxies];
    let mut recovered_s = scenario.outage_end_s();
    while let Some(Reverse((now, happening, index))) = queue.pop() {
        if now >= end_ms {
            break;
        }
        let Some(proxy) = proxies.get_mut(index) else {
            continue;
        };
        let local = proxy.local(now);
        match happening {
            Happening::Tick => {
                if proxy.queued_ms != Some(now) {
                    continue;
                }
                proxy.queued_ms = None;
                proxy.machine.run(&mut proxy.host, local, Event::Tick);
            }
            Happening::Answer => {
                let down = outage.contains(&now);
                let (status, body) = if down {
                    ("503", &b""[..])
                } else {
                    ("200", JWKS)
                };
                proxy.host.body = body.to_vec();
                let event = Event::ResponseHead {
                    headers: vec![(":status".to_owned(), status.to_owned())],
                    body_size: body.len(),
                };
                let progress = proxy.machine.run(&mut proxy.host, local, event);
                let failed = matches!(progress.fetched, Some(Err(_)));
                if let Some(waiting) = waiting_for_recovery.get_mut(index) {
                    if failed && now >= outage.start {
                        *waiting = true;
                    } else if *waiting && !failed {
                        *waiting = false;
                        recovered_s = recovered_s.max(now / 1_000 + 1);
                    }
                }
            }
        }
        if proxy.host.dispatched.take().is_some() {
            if let Some(count) = per_second.get_mut((now / 1_000) as usize) {
                *count += 1;
            }
            queue.push(Reverse((
                now + scenario.latency_ms,
                Happening::Answer,
                index,
            )));
        }
        if let Some(wake_local) = proxy.machine.wake_at_ms() {
            let at = proxy.tick_at_or_after(wake_local.max(local + 1));
            if proxy.queued_ms.is_none_or(|queued| at < queued) {
                proxy.queued_ms = Some(at);
                queue.push(Reverse((at, Happening::Tick, index)));
            }
        }
    }
    Ok(Report {
        requests_per_second: per_second,
        scenario,
        recovered_s,
    })
}
