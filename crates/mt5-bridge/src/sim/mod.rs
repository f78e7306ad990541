//! The simulated terminal: a paper-trading MT5 account that works on any machine.
//!
//! [`SimulatedTerminal`] quotes EURUSD, GBPUSD, USDJPY and XAUUSD from a seeded random walk
//! or from recorded ticks, fills market orders at the bid or ask, keeps pending orders and
//! stops that trigger on ticks, accounts balance, equity and margin with leverage, keeps
//! the deal and order history, and answers with MT5's retcodes. The account lives in a
//! file in the data folder and carries on across restarts.
//!
//! Time comes from a [`Clock`]. Ticks are due every `tick_interval_ms`; every call first
//! plays the ticks due up to now, in time order across symbols, and each tick is matched
//! against pending orders, then stop losses and take profits, before the next one. Nothing
//! happens between calls unless [`SimulatedTerminal::run_ticker`] is running, so triggers
//! fire on time for a watching client even when nobody calls.
//!
//! Market orders with an expected `price` act like MT5's instant execution: if the fill
//! price is more than `deviation` points from it, the answer is `10004` (requote) with the
//! current bid and ask, and nothing trades. Without a price they act like market
//! execution and fill at the current quote. Pending orders fill at the price of the tick
//! that triggers them (buy limit when the ask falls to the order price, sell limit when the
//! bid rises to it, buy stop when the ask rises to it, sell stop when the bid falls to it);
//! one the free margin cannot carry then is rejected. A buy's SL and TP watch the bid, a
//! sell's the ask, and close at the triggering tick's price. A `comment` is cut to 31
//! characters as MT5 does; `comment` and `magic` stay on orders, deals and positions.
//!
//! Not simulated: swap, commission, stop-out, hedged-margin discounts, partial fills and
//! slippage beyond the tick a request or trigger meets. Margin is computed at a position's
//! opening price and stays fixed while it is open.
//!
//! # Replay files
//!
//! With `replay_dir` set, each file in it named for a symbol (`EURUSD.csv`, `XAUUSD.csv`)
//! replaces that symbol's random walk; the other symbols keep walking. A file is plain
//! comma-separated text without quoting:
//!
//! ```text
//! time,bid,ask
//! 2024-06-03T09:00:00.250Z,1.08502,1.08512
//! 1717405201000,1.08505,1.08515
//! ```
//!
//! - The header line is optional; blank lines and lines starting with `#` are skipped.
//! - `time` is RFC 3339 or whole milliseconds since the Unix epoch, never going back.
//! - `bid` and `ask` are positive prices with at most the symbol's digits, `ask >= bid`.
//!
//! Only the gaps between rows matter: the first row plays when the terminal opens and each
//! later one as much later as it was recorded, so a replay runs at the recording's speed
//! and tick times are those of the clock. After the last row the file starts over one tick
//! interval later (the price jumps back, as after a gap). A replay starts from its first
//! row at every opening. Files naming no simulated symbol are skipped with a warning; a
//! malformed file stops the terminal from opening, with an error naming the file and line.
//!
//! # Locking and storage
//!
//! The state sits behind one mutex; calls hold it for microseconds. After a change of trade
//! state (a trade, or a trigger found while catching up) the account file is written after
//! the lock is released, under a second lock that orders the writes, and the call answers
//! only once the file is on disk. A read therefore touches the disk only when the ticks it
//! played filled an order or hit a stop, which is as rare as a trade.

mod account;
mod bars;
mod clock;
mod config;
mod feed;
mod hours;
mod replay;
mod rng;
mod spec;
mod store;

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use parking_lot::Mutex;

pub use self::bars::MAX_BARS;
pub use self::clock::{Clock, ManualClock, SystemClock};
pub use self::config::{SimConfig, StartMode};
pub use self::hours::{MarketHours, WeekTime};
pub use self::store::ACCOUNT_FILE;

use self::account::{Ledger, MarketView, Quotes, SYMBOLS};
use self::bars::{BarSeries, History};
use self::clock::{from_ms, to_ms};
use self::config::Settings;
use self::feed::{Feed, WalkState};
use self::rng::{Rng, hash};
use self::spec::SPECS;
use self::store::AccountFile;
use crate::types::{
    AccountInfo, AccountMode, Bar, Deal, HistoryOrder, HistoryQuery, PendingOrder, Position,
    SymbolInfo, TerminalStatus, Tick, Timeframe, TradeRequest, TradeResult,
};
use crate::{Result, Terminal, TerminalError};

/// A paper-trading MT5 terminal. See the [module documentation](self).
pub struct SimulatedTerminal {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    clock: Arc<dyn Clock>,
    path: PathBuf,
    /// Symbols whose ticks come from a replay file, for the status report.
    replayed: Vec<&'static str>,
    state: Mutex<State>,
    /// The change count of the snapshot last written, so an older snapshot never
    /// overwrites a newer one.
    written: Mutex<u64>,
    stall: Mutex<Option<std::time::Duration>>,
    /// A stall for trade requests alone (`stall_trades_ms`), on top of `stall`.
    trade_stall: Option<std::time::Duration>,
}

#[derive(Debug)]
struct State {
    feeds: Vec<Feed>,
    bars: Vec<BarSeries>,
    quotes: Quotes,
    ledger: Ledger,
}

impl fmt::Debug for SimulatedTerminal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatedTerminal")
            .field("account_file", &self.inner.path)
            .field("replayed", &self.inner.replayed)
            .finish_non_exhaustive()
    }
}

impl SimulatedTerminal {
    /// Opens the paper account in `config.data_dir`, creating it on first use.
    ///
    /// # Errors
    ///
    /// [`TerminalError::Config`] for settings out of range or a malformed replay file (the
    /// message names the file and line); [`TerminalError::Storage`] when the data folder
    /// cannot be written or the account file cannot be read. A damaged account file is
    /// never replaced silently: open with [`StartMode::Reset`] to start over.
    pub fn open(config: &SimConfig, clock: Arc<dyn Clock>) -> Result<SimulatedTerminal> {
        let settings = Settings::from_config(config)?;
        std::fs::create_dir_all(&config.data_dir).map_err(|error| {
            TerminalError::Storage(format!(
                "cannot create data folder {}: {error}",
                config.data_dir.display()
            ))
        })?;
        let path = store::account_path(&config.data_dir);
        let tapes = match &config.replay_dir {
            Some(dir) => replay::load_dir(dir, settings.interval_ms)?,
            None => vec![None; SYMBOLS],
        };
        let now_ms = to_ms(clock.now());

        // 1. The saved account, or a new one.
        let saved = match config.start {
            StartMode::Resume => store::load(&path)?,
            StartMode::Reset => set_aside_for_reset(&path),
        };
        let (ledger, walks) = match (saved, config.start) {
            (Some(file), StartMode::Resume) => (file.ledger, file.walks),
            (previous, _) => {
                let previous = previous.map(|file| file.ledger);
                let ledger = Ledger::fresh(
                    settings.login,
                    settings.initial_balance,
                    now_ms,
                    previous.as_ref(),
                );
                (ledger, Vec::new())
            }
        };

        // 2. Each symbol's feed, carrying on from the saved walk where there is one.
        let mut feeds = Vec::with_capacity(SYMBOLS);
        let mut replayed = Vec::new();
        for ((index, spec), tape) in SPECS.iter().enumerate().zip(tapes) {
            let walk = walks.iter().find(|(name, _)| name == spec.name).map_or_else(
                || {
                    let rng = Rng::seeded(hash(&[settings.seed, index as u64]));
                    WalkState::fresh(spec, rng, now_ms, settings.interval_ms)
                },
                |(_, walk)| walk.clone(),
            );
            feeds.push(match tape {
                Some(tape) => {
                    replayed.push(spec.name);
                    Feed::replay(walk, Arc::new(tape), now_ms)
                }
                None => Feed::Walk(walk),
            });
        }
        let quotes: Quotes = std::array::from_fn(|index| feeds[index].quote());
        let mut bars = vec![BarSeries::default(); SYMBOLS];
        for (series, quote) in bars.iter_mut().zip(quotes) {
            series.record(quote);
        }

        // 3. Catch up to now and save, which also proves the data folder is writable.
        let mut state = State { feeds, bars, quotes, ledger };
        state.sync(&settings, now_ms);
        let version = state.ledger.changes;
        store::write_atomic(&path, &store::encode(&state.file())?)?;
        tracing::info!(
            account_file = %path.display(),
            login = state.ledger.login,
            replayed = ?replayed,
            "simulated terminal opened"
        );

        let inner = Inner {
            settings,
            clock,
            path,
            replayed,
            state: Mutex::new(state),
            written: Mutex::new(version),
            stall: Mutex::new(None),
            trade_stall: (config.stall_trades_ms > 0)
                .then(|| std::time::Duration::from_millis(config.stall_trades_ms)),
        };
        Ok(SimulatedTerminal { inner: Arc::new(inner) })
    }

    /// The account file's path.
    #[must_use]
    pub fn account_file(&self) -> &Path {
        &self.inner.path
    }

    /// Replaces the account with a new one holding the initial balance: positions, pending
    /// orders and history are gone; prices and ticket numbers carry on.
    pub fn reset(&self) -> Result<()> {
        self.inner.with_state(|state, settings, now_ms| {
            state.ledger = Ledger::fresh(
                settings.login,
                settings.initial_balance,
                now_ms,
                Some(&state.ledger),
            );
        })
    }

    /// Makes every call but [`Terminal::status`] wait `stall` before it is carried out, like
    /// a terminal on a slow link, to test timeouts. A trade request is executed after the
    /// wait even if its caller has stopped waiting, so a timed-out order leaves an outcome
    /// that has to be reconciled from the history. `None` ends the stall.
    pub fn set_stall(&self, stall: Option<std::time::Duration>) {
        *self.inner.stall.lock() = stall;
    }

    /// A task that plays the ticks as they fall due, so pending orders and stops trigger on
    /// time even when no client calls. Spawn it on the runtime; it ends once the terminal
    /// is dropped. Errors saving the account are logged and retried on the next round.
    pub fn run_ticker(&self) -> impl Future<Output = ()> + Send + 'static {
        let inner: Weak<Inner> = Arc::downgrade(&self.inner);
        let period_ms = self.inner.settings.interval_ms.clamp(10, 1_000);
        let period = std::time::Duration::from_millis(period_ms.unsigned_abs());
        async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(inner) = inner.upgrade() else { return };
                if let Err(error) = inner.with_state(|_, _, _| ()) {
                    tracing::error!(%error, "simulated terminal could not save its account");
                }
            }
        }
    }

    /// Runs `work` now, or on a separate thread after the stall. The thread owns what it
    /// needs, so the work is done even when the caller's future is dropped.
    async fn call<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T> + Send + 'static,
    {
        let stall = *self.inner.stall.lock();
        self.call_after(stall, work).await
    }

    /// [`Self::call`] with the stall given.
    async fn call_after<T, F>(&self, stall: Option<std::time::Duration>, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T> + Send + 'static,
    {
        let Some(stall) = stall else {
            return work(&self.inner);
        };
        let inner = Arc::clone(&self.inner);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("sim-terminal-stall".to_owned())
            .spawn(move || {
                std::thread::sleep(stall);
                // The caller may have given up waiting; the work is done all the same.
                let _ = sender.send(work(&inner));
            })
            .map_err(|error| {
                TerminalError::Unavailable(format!("cannot start a stalled call: {error}"))
            })?;
        receiver.await.map_err(|_| TerminalError::Unavailable("stalled call lost".to_owned()))?
    }
}

impl Inner {
    /// Plays the ticks due up to now, runs `act` on the state, and saves the account if
    /// either changed it.
    fn with_state<T>(&self, act: impl FnOnce(&mut State, &Settings, i64) -> T) -> Result<T> {
        let now_ms = to_ms(self.clock.now());
        let (output, snapshot) = {
            let mut state = self.state.lock();
            let before = state.ledger.changes;
            state.sync(&self.settings, now_ms);
            let output = act(&mut state, &self.settings, now_ms);
            let changed = state.ledger.changes != before;
            (output, changed.then(|| (state.ledger.changes, state.file())))
        };
        if let Some((version, file)) = snapshot {
            self.persist(version, &file)?;
        }
        Ok(output)
    }

    fn persist(&self, version: u64, file: &AccountFile) -> Result<()> {
        let mut written = self.written.lock();
        if *written >= version {
            return Ok(());
        }
        store::write_atomic(&self.path, &store::encode(file)?)?;
        *written = version;
        Ok(())
    }
}

impl State {
    /// Plays every tick due up to `now_ms`, oldest first across symbols.
    fn sync(&mut self, settings: &Settings, now_ms: i64) {
        let horizon_ms = now_ms - settings.catch_up_ms;
        for index in 0..SYMBOLS {
            if let Some(quote) = self.feeds[index].skip_before(horizon_ms, settings.interval_ms) {
                self.play(index, quote, settings);
            }
        }
        loop {
            let due = (0..SYMBOLS).map(|index| (self.feeds[index].next_due(), index)).min();
            let Some((due_ms, index)) = due.filter(|(due_ms, _)| *due_ms <= now_ms) else {
                break;
            };
            if !settings.hours.is_open(due_ms) {
                // No ticks while the market is closed: the feed resumes at the opening.
                self.feeds[index].postpone(settings.hours.next_open(due_ms));
                continue;
            }
            self.ledger.expire(due_ms);
            let quote = self.feeds[index].advance(&SPECS[index], settings.interval_ms);
            self.play(index, quote, settings);
        }
        self.ledger.expire(now_ms);
    }

    fn play(&mut self, index: usize, quote: feed::Quote, settings: &Settings) {
        self.quotes[index] = quote;
        self.bars[index].record(quote);
        if settings.hours.is_open(quote.time_ms) {
            let market = MarketView {
                quotes: &self.quotes,
                now_ms: quote.time_ms,
                hours: settings.hours,
                leverage: settings.leverage,
            };
            self.ledger.on_tick(index, market);
        }
    }

    fn file(&self) -> AccountFile {
        let walks = SPECS
            .iter()
            .zip(&self.feeds)
            .map(|(spec, feed)| (spec.name.to_owned(), feed.walk_state().clone()))
            .collect();
        AccountFile::new(self.ledger.clone(), walks)
    }
}

/// Under [`StartMode::Reset`] the old file only lends its ticket counters. One that cannot
/// be read is kept beside the new one as `sim-account.json.unreadable`, never destroyed.
fn set_aside_for_reset(path: &Path) -> Option<AccountFile> {
    match store::load(path) {
        Ok(previous) => previous,
        Err(error) => {
            let aside = path.with_extension("json.unreadable");
            tracing::warn!(%error, kept_as = %aside.display(), "reset replaces an unreadable account");
            let _ = std::fs::rename(path, aside);
            None
        }
    }
}

fn symbol_index(name: &str) -> Result<usize> {
    spec::find(name).ok_or_else(|| TerminalError::SymbolNotFound(name.to_owned()))
}

/// Checks a history query and turns it into milliseconds.
fn history_range(query: &HistoryQuery) -> Result<(i64, i64, Option<String>)> {
    if query.from > query.to {
        return Err(TerminalError::InvalidRequest(format!(
            "history range starts at {} after it ends at {}",
            query.from, query.to
        )));
    }
    if let Some(symbol) = &query.symbol {
        symbol_index(symbol)?;
    }
    Ok((to_ms(query.from), to_ms(query.to), query.symbol.clone()))
}

#[async_trait]
impl Terminal for SimulatedTerminal {
    async fn status(&self) -> TerminalStatus {
        let login = self.inner.state.lock().ledger.login;
        let source = if self.inner.replayed.is_empty() {
            "random-walk prices".to_owned()
        } else {
            format!("replayed prices for {}", self.inner.replayed.join(", "))
        };
        TerminalStatus {
            kind: "simulated".to_owned(),
            connected: true,
            detail: format!("paper account {login}, {source}"),
        }
    }

    async fn account(&self) -> Result<AccountInfo> {
        self.call(|inner| {
            inner.with_state(|state, settings, _| {
                let totals = state.ledger.totals(&state.quotes, settings.leverage);
                AccountInfo {
                    login: state.ledger.login,
                    server: "MT5Gateway-Simulated".to_owned(),
                    name: "Paper account".to_owned(),
                    currency: "USD".to_owned(),
                    mode: AccountMode::Simulated,
                    leverage: settings.leverage,
                    balance: totals.balance,
                    equity: totals.equity,
                    profit: totals.profit,
                    margin: totals.margin,
                    margin_free: totals.margin_free,
                    margin_level: totals.margin_level,
                    trade_allowed: true,
                }
            })
        })
        .await
    }

    async fn symbols(&self) -> Result<Vec<SymbolInfo>> {
        self.call(|inner| {
            inner.with_state(|state, _, _| {
                SPECS.iter().zip(state.quotes).map(|(spec, q)| spec.info(q.spread())).collect()
            })
        })
        .await
    }

    async fn symbol(&self, name: &str) -> Result<SymbolInfo> {
        let index = symbol_index(name)?;
        self.call(move |inner| {
            inner.with_state(|state, _, _| SPECS[index].info(state.quotes[index].spread()))
        })
        .await
    }

    async fn tick(&self, symbol: &str) -> Result<Tick> {
        let index = symbol_index(symbol)?;
        self.call(move |inner| {
            inner.with_state(|state, _, _| {
                let (spec, quote) = (&SPECS[index], state.quotes[index]);
                Tick {
                    symbol: spec.name.to_owned(),
                    time: from_ms(quote.time_ms),
                    bid: spec.price(quote.bid),
                    ask: spec.price(quote.ask),
                }
            })
        })
        .await
    }

    async fn bars(&self, symbol: &str, timeframe: Timeframe, count: usize) -> Result<Vec<Bar>> {
        let index = symbol_index(symbol)?;
        if count == 0 || count > MAX_BARS {
            return Err(TerminalError::InvalidRequest(format!(
                "bar count {count} outside 1..={MAX_BARS}"
            )));
        }
        self.call(move |inner| {
            inner.with_state(|state, settings, _| {
                let history = History {
                    spec: &SPECS[index],
                    symbol_index: index,
                    seed: settings.seed,
                    hours: settings.hours,
                    interval_ms: settings.interval_ms,
                };
                state.bars[index].bars(history, timeframe, count)
            })
        })
        .await
    }

    async fn positions(&self) -> Result<Vec<Position>> {
        self.call(|inner| inner.with_state(|state, _, _| state.ledger.positions(&state.quotes)))
            .await
    }

    async fn orders(&self) -> Result<Vec<PendingOrder>> {
        self.call(|inner| inner.with_state(|state, _, _| state.ledger.pending_orders())).await
    }

    async fn history_deals(&self, query: &HistoryQuery) -> Result<Vec<Deal>> {
        let (from_ms, to_ms, symbol) = history_range(query)?;
        self.call(move |inner| {
            inner.with_state(|state, _, _| state.ledger.deals(from_ms, to_ms, symbol.as_deref()))
        })
        .await
    }

    async fn history_orders(&self, query: &HistoryQuery) -> Result<Vec<HistoryOrder>> {
        let (from_ms, to_ms, symbol) = history_range(query)?;
        self.call(move |inner| {
            inner.with_state(|state, _, _| {
                state.ledger.history_orders(from_ms, to_ms, symbol.as_deref())
            })
        })
        .await
    }

    async fn order_send(&self, request: TradeRequest) -> Result<TradeResult> {
        let stall = match (*self.inner.stall.lock(), self.inner.trade_stall) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.call_after(stall, move |inner| {
            inner.with_state(|state, settings, now_ms| {
                let quotes = state.quotes;
                let market = MarketView {
                    quotes: &quotes,
                    now_ms,
                    hours: settings.hours,
                    leverage: settings.leverage,
                };
                state.ledger.send(request, market)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests;
