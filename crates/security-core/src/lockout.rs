//! Banning clients that keep presenting keys the gateway refuses.
//!
//! Only a refused key counts: a request without any key is not a guess. Five refusals within
//! five minutes ban the client for a minute; each further ban lasts twice as long as the one
//! before, up to an hour. The escalation is forgotten after a quiet period (a day by default)
//! in which the client had no refusal at all, so a user who once fought a broken script does not
//! start every later mistake at an hour.
//!
//! A successful authentication never consults or changes the lockout: every local process shares
//! the loopback address, and a ban that refused valid keys would let any of them lock the
//! user's own interface out. That is why this type has no `record_success` and why
//! [`Lockout::check`] is meant for requests that already failed.
//!
//! Memory is bounded by [`LockoutConfig::max_clients`]. When the table is full, entries with
//! nothing left to remember go first, then the quietest clients that are not banned, and only
//! then the bans closest to their end: an attacker rotating addresses can make the gateway forget
//! old clients, never grow without bound.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// The numbers of the lockout policy. Every field has a default; a configuration file names only
/// what it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutConfig {
    /// Refusals within [`window_secs`](Self::window_secs) that trigger a ban.
    pub max_failures: u32,
    /// The sliding window refusals are counted in, in seconds.
    pub window_secs: u64,
    /// The first ban's length, in seconds; each repeat doubles it.
    pub ban_secs: u64,
    /// The longest ban, in seconds.
    pub max_ban_secs: u64,
    /// After this many seconds without a refusal, a client's earlier bans are forgotten and its
    /// next ban is again the shortest.
    pub repeat_reset_secs: u64,
    /// The most clients remembered at once.
    pub max_clients: usize,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window_secs: 5 * 60,
            ban_secs: 60,
            max_ban_secs: 60 * 60,
            repeat_reset_secs: 24 * 60 * 60,
            max_clients: 10_000,
        }
    }
}

/// A lockout configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LockoutError {
    /// A number is below its minimum.
    #[error("lockout {setting} is {value}, the minimum is {minimum}")]
    TooSmall {
        /// The setting's name.
        setting: &'static str,
        /// Its value.
        value: u64,
        /// The smallest value that works.
        minimum: u64,
    },
    /// The first ban is longer than the longest ban.
    #[error("lockout ban_secs is {ban_secs}, above max_ban_secs {max_ban_secs}")]
    BanAboveMaximum {
        /// The first ban's length.
        ban_secs: u64,
        /// The longest ban.
        max_ban_secs: u64,
    },
}

impl LockoutConfig {
    /// Checks that the numbers make a working policy.
    pub fn validate(&self) -> Result<(), LockoutError> {
        let minimums: [(&'static str, u64, u64); 5] = [
            ("max_failures", u64::from(self.max_failures), 1),
            ("window_secs", self.window_secs, 1),
            ("ban_secs", self.ban_secs, 1),
            ("repeat_reset_secs", self.repeat_reset_secs, 1),
            ("max_clients", u64::try_from(self.max_clients).unwrap_or(u64::MAX), 16),
        ];
        for (setting, value, minimum) in minimums {
            if value < minimum {
                return Err(LockoutError::TooSmall { setting, value, minimum });
            }
        }
        if self.ban_secs > self.max_ban_secs {
            return Err(LockoutError::BanAboveMaximum {
                ban_secs: self.ban_secs,
                max_ban_secs: self.max_ban_secs,
            });
        }
        Ok(())
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs)
    }

    fn repeat_reset(&self) -> Duration {
        Duration::from_secs(self.repeat_reset_secs)
    }

    /// The length of a client's ban when it has already been banned `earlier_bans` times.
    fn ban_length(&self, earlier_bans: u32) -> Duration {
        let factor = 1u64.checked_shl(earlier_bans).unwrap_or(u64::MAX);
        Duration::from_secs(self.ban_secs.saturating_mul(factor).min(self.max_ban_secs))
    }
}

/// Who a failure is charged to: an address, normalised so that one machine is one client.
///
/// - All of `127.0.0.0/8`, `::1` and their IPv4-mapped forms are [`ClientKey::Loopback`]:
///   rotating loopback source addresses gains nothing.
/// - IPv4-mapped IPv6 addresses count as the IPv4 address.
/// - Other IPv6 addresses are grouped by their /64: a provider hands each subscriber at least a
///   /64, so one host can pick from 2^64 addresses, and counting them apart would make the
///   lockout worthless. The cost is that hosts sharing a /64 (one LAN) share a lockout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientKey {
    /// This machine, whatever loopback address it came from.
    Loopback,
    /// A remote IPv4 address.
    V4(Ipv4Addr),
    /// A remote IPv6 /64 network: its first four 16-bit groups.
    V6Net([u16; 4]),
}

impl From<IpAddr> for ClientKey {
    fn from(address: IpAddr) -> Self {
        match address.to_canonical() {
            IpAddr::V4(v4) if v4.is_loopback() => ClientKey::Loopback,
            IpAddr::V4(v4) => ClientKey::V4(v4),
            IpAddr::V6(v6) if v6.is_loopback() => ClientKey::Loopback,
            IpAddr::V6(v6) => {
                let groups = v6.segments();
                ClientKey::V6Net([groups[0], groups[1], groups[2], groups[3]])
            }
        }
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientKey::Loopback => f.write_str("loopback"),
            ClientKey::V4(v4) => write!(f, "{v4}"),
            ClientKey::V6Net(groups) => {
                let [g0, g1, g2, g3] = *groups;
                write!(f, "{}/64", Ipv6Addr::new(g0, g1, g2, g3, 0, 0, 0, 0))
            }
        }
    }
}

/// What recording a refused key did to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum FailureOutcome {
    /// Counted; not banned yet.
    Counted {
        /// Refusals within the window, this one included.
        failures: u32,
        /// The count at which the ban starts.
        limit: u32,
    },
    /// The client is banned.
    Banned {
        /// How long until the ban ends.
        retry_after: Duration,
        /// Whether this refusal started the ban (worth one security event), or the client was
        /// banned already.
        newly: bool,
    },
}

#[derive(Debug)]
struct ClientState {
    /// Times of the refusals inside the window, oldest first; never more than `max_failures`.
    failures: VecDeque<Instant>,
    banned_until: Option<Instant>,
    earlier_bans: u32,
    last_failure: Instant,
}

impl ClientState {
    fn new(now: Instant) -> Self {
        Self { failures: VecDeque::new(), banned_until: None, earlier_bans: 0, last_failure: now }
    }

    fn ban_remaining(&self, now: Instant) -> Option<Duration> {
        self.banned_until.filter(|&until| until > now).map(|until| until - now)
    }

    /// Nothing left to remember: no ban, no refusal in the window, no escalation to keep.
    fn is_spent(&self, now: Instant, config: &LockoutConfig) -> bool {
        let quiet = now.saturating_duration_since(self.last_failure);
        self.ban_remaining(now).is_none()
            && quiet >= config.window()
            && (self.earlier_bans == 0 || quiet >= config.repeat_reset())
    }
}

/// Counts refused keys per client and bans the clients that keep guessing.
///
/// Thread-safe; one short mutex section per call. Time is always passed in, so behaviour is
/// deterministic under test.
pub struct Lockout {
    config: LockoutConfig,
    clients: Mutex<HashMap<ClientKey, ClientState>>,
}

impl fmt::Debug for Lockout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lockout")
            .field("config", &self.config)
            .field("clients", &self.clients.lock().len())
            .finish()
    }
}

impl Lockout {
    /// A lockout with the given policy.
    pub fn new(config: LockoutConfig) -> Result<Self, LockoutError> {
        config.validate()?;
        Ok(Self { config, clients: Mutex::new(HashMap::new()) })
    }

    /// The policy in force.
    #[must_use]
    pub fn config(&self) -> &LockoutConfig {
        &self.config
    }

    /// How many clients are remembered now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    /// Whether no client is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How long `client` is still banned, if it is.
    ///
    /// Ask only about a request whose authentication already failed: a valid key is never
    /// refused because of a ban.
    #[must_use]
    pub fn check(&self, client: ClientKey, now: Instant) -> Option<Duration> {
        self.clients.lock().get(&client).and_then(|state| state.ban_remaining(now))
    }

    /// Records that `client` presented a key and it was refused.
    pub fn record_failure(&self, client: ClientKey, now: Instant) -> FailureOutcome {
        let config = &self.config;
        let mut clients = self.clients.lock();
        if !clients.contains_key(&client) {
            make_room(&mut clients, now, config);
        }
        let state = clients.entry(client).or_insert_with(|| ClientState::new(now));

        // 1. Already banned: the ban stands as it is; the refusal only keeps the client from
        //    counting as quiet.
        if let Some(retry_after) = state.ban_remaining(now) {
            state.last_failure = now;
            return FailureOutcome::Banned { retry_after, newly: false };
        }

        // 2. Forget escalation after a quiet period, and refusals that left the window.
        if now.saturating_duration_since(state.last_failure) >= config.repeat_reset() {
            state.earlier_bans = 0;
        }
        state.last_failure = now;
        while state
            .failures
            .front()
            .is_some_and(|&at| now.saturating_duration_since(at) >= config.window())
        {
            state.failures.pop_front();
        }

        // 3. Count this one, and ban at the limit.
        state.failures.push_back(now);
        let failures = u32::try_from(state.failures.len()).unwrap_or(u32::MAX);
        if failures < config.max_failures {
            return FailureOutcome::Counted { failures, limit: config.max_failures };
        }
        let retry_after = config.ban_length(state.earlier_bans);
        state.earlier_bans = state.earlier_bans.saturating_add(1);
        state.banned_until = Some(now + retry_after);
        state.failures.clear();
        FailureOutcome::Banned { retry_after, newly: true }
    }
}

/// Brings a full table down to fifteen sixteenths of its limit, so the work is paid once per
/// many new clients rather than on each.
fn make_room(clients: &mut HashMap<ClientKey, ClientState>, now: Instant, config: &LockoutConfig) {
    if clients.len() < config.max_clients {
        return;
    }
    clients.retain(|_, state| !state.is_spent(now, config));

    let target = config.max_clients - (config.max_clients / 16).max(1);
    if clients.len() <= target {
        return;
    }
    let surplus = clients.len() - target;

    // Unbanned clients first, quietest first; then the bans that end soonest.
    let mut order: Vec<(bool, Instant, ClientKey)> = clients
        .iter()
        .map(|(client, state)| match state.ban_remaining(now) {
            None => (false, state.last_failure, *client),
            Some(_) => (true, state.banned_until.unwrap_or(now), *client),
        })
        .collect();
    order.select_nth_unstable(surplus - 1);
    for (_, _, client) in &order[..surplus] {
        clients.remove(client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn lockout() -> Lockout {
        Lockout::new(LockoutConfig::default()).unwrap()
    }

    fn client(last: u8) -> ClientKey {
        ClientKey::from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)))
    }

    /// Records `count` refusals one second apart and returns the last outcome.
    fn fail(lockout: &Lockout, who: ClientKey, start: Instant, count: u32) -> FailureOutcome {
        let mut outcome = FailureOutcome::Counted { failures: 0, limit: 0 };
        for step in 0..count {
            outcome = lockout.record_failure(who, start + SECOND * step);
        }
        outcome
    }

    #[test]
    fn five_failures_in_the_window_ban_for_a_minute() {
        let lockout = lockout();
        let t0 = Instant::now();
        let who = client(1);
        assert_eq!(fail(&lockout, who, t0, 4), FailureOutcome::Counted { failures: 4, limit: 5 });
        assert_eq!(lockout.check(who, t0 + SECOND * 4), None);

        let outcome = lockout.record_failure(who, t0 + SECOND * 4);
        assert_eq!(outcome, FailureOutcome::Banned { retry_after: SECOND * 60, newly: true });
        assert_eq!(lockout.check(who, t0 + SECOND * 14), Some(SECOND * 50));

        let again = lockout.record_failure(who, t0 + SECOND * 34);
        assert_eq!(again, FailureOutcome::Banned { retry_after: SECOND * 30, newly: false });
        assert_eq!(lockout.check(who, t0 + SECOND * 64), None);
        assert_eq!(lockout.check(client(2), t0), None);
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let lockout = lockout();
        let t0 = Instant::now();
        let who = client(1);
        // One refusal every 100 s: never more than three inside a 300 s window.
        for step in 0..20 {
            let outcome = lockout.record_failure(who, t0 + SECOND * 100 * step);
            let expected = FailureOutcome::Counted { failures: (step + 1).min(3), limit: 5 };
            assert_eq!(outcome, expected, "step {step}");
        }
    }

    #[test]
    fn repeated_bans_double_up_to_an_hour_then_reset_after_a_quiet_day() {
        let lockout = lockout();
        let who = client(1);
        let mut now = Instant::now();
        let mut lengths = Vec::new();
        for _ in 0..8 {
            let outcome = fail(&lockout, who, now, 5);
            let FailureOutcome::Banned { retry_after, newly: true } = outcome else {
                panic!("expected a new ban, got {outcome:?}");
            };
            lengths.push(retry_after.as_secs());
            now += retry_after + SECOND * 10;
        }
        assert_eq!(lengths, [60, 120, 240, 480, 960, 1920, 3600, 3600]);

        now += Duration::from_secs(24 * 60 * 60);
        let outcome = fail(&lockout, who, now, 5);
        assert_eq!(outcome, FailureOutcome::Banned { retry_after: SECOND * 60, newly: true });
    }

    #[test]
    fn loopback_addresses_are_one_client_and_ipv6_groups_by_64() {
        let same = |a: &str, b: &str| {
            ClientKey::from(a.parse::<IpAddr>().unwrap())
                == ClientKey::from(b.parse::<IpAddr>().unwrap())
        };
        assert!(same("127.0.0.1", "127.8.9.10"));
        assert!(same("127.0.0.1", "::1"));
        assert!(same("::ffff:127.0.0.2", "::1"));
        assert!(same("::ffff:192.0.2.7", "192.0.2.7"));
        assert!(same("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"));
        assert!(!same("2001:db8:1:2::1", "2001:db8:1:3::1"));
        assert!(!same("192.0.2.1", "192.0.2.2"));

        let shown = |a: &str| ClientKey::from(a.parse::<IpAddr>().unwrap()).to_string();
        assert_eq!(shown("127.0.0.5"), "loopback");
        assert_eq!(shown("192.0.2.7"), "192.0.2.7");
        assert_eq!(shown("2001:db8:1:2::1"), "2001:db8:1:2::/64");
    }

    #[test]
    fn rotating_addresses_cannot_grow_the_table_or_lift_a_ban() {
        let config = LockoutConfig { max_clients: 1_000, ..LockoutConfig::default() };
        let lockout = Lockout::new(config).unwrap();
        let t0 = Instant::now();
        let banned = client(1);
        let _ = fail(&lockout, banned, t0, 5);

        for n in 0..50_000u32 {
            let address = Ipv4Addr::from(0x0a00_0000 + n);
            let _ = lockout.record_failure(ClientKey::V4(address), t0 + SECOND * 5);
            assert!(lockout.len() <= 1_000);
        }
        assert!(lockout.check(banned, t0 + SECOND * 6).is_some());
    }

    #[test]
    fn spent_entries_are_dropped_first() {
        let config = LockoutConfig { max_clients: 16, ..LockoutConfig::default() };
        let lockout = Lockout::new(config).unwrap();
        let t0 = Instant::now();
        for n in 0..16 {
            let _ = lockout.record_failure(client(n), t0);
        }
        let later = t0 + SECOND * 301;
        let _ = lockout.record_failure(client(100), later);
        assert_eq!(lockout.len(), 1);
    }

    #[test]
    fn config_reads_partial_files_and_refuses_nonsense() {
        let config: LockoutConfig = serde_json::from_str(r#"{"max_failures": 3}"#).unwrap();
        assert_eq!(config, LockoutConfig { max_failures: 3, ..LockoutConfig::default() });
        assert!(serde_json::from_str::<LockoutConfig>(r#"{"max_failure": 3}"#).is_err());

        let zero = LockoutConfig { max_failures: 0, ..LockoutConfig::default() };
        assert_eq!(
            zero.validate().unwrap_err().to_string(),
            "lockout max_failures is 0, the minimum is 1"
        );
        let inverted = LockoutConfig { ban_secs: 7200, ..LockoutConfig::default() };
        assert!(Lockout::new(inverted).is_err());
    }
}
