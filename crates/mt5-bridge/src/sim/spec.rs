//! The simulated symbols and their contract specifications.
//!
//! The numbers are those of a typical retail MT5 broker: five-digit FX quotes, three for
//! the yen, two for gold; standard lots of 100,000 units and 100 troy ounces.

use rust_decimal::Decimal;

use crate::types::{SymbolInfo, TradeMode};

/// How a symbol's profit currency converts into the account currency (USD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProfitConversion {
    /// The profit currency is USD already.
    Direct,
    /// The profit currency is the quote of a USD-based pair (JPY in USDJPY): divide by the
    /// pair's rate.
    DivideByRate,
}

/// How a position's margin is computed, in USD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MarginMode {
    /// `volume × contract size × price / leverage`: FX pairs whose base currency is not the
    /// account's (margin in EUR converted at the pair's own rate), and gold quoted in USD.
    NotionalAtPrice,
    /// `volume × contract size / leverage`: pairs whose base currency is USD.
    Notional,
}

/// One simulated symbol.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) digits: u32,
    pub(crate) contract_size: i64,
    /// Volumes in hundredths of a lot.
    pub(crate) volume_min_cents: i64,
    pub(crate) volume_step_cents: i64,
    pub(crate) volume_max_cents: i64,
    pub(crate) stops_level: u32,
    /// Spread of the random walk, in points.
    pub(crate) spread: u32,
    pub(crate) base: &'static str,
    pub(crate) profit: &'static str,
    pub(crate) margin: &'static str,
    /// Where a fresh random walk starts, in points.
    pub(crate) start_bid: i64,
    /// Largest move of the random walk between two ticks, in points.
    pub(crate) max_step: u32,
    /// Typical one-minute move, in points, for synthesised bar history.
    pub(crate) minute_sigma: u32,
    pub(crate) profit_conversion: ProfitConversion,
    pub(crate) margin_mode: MarginMode,
}

impl Spec {
    pub(crate) fn point(&self) -> Decimal {
        Decimal::new(1, self.digits)
    }

    /// A price in points as a decimal with the symbol's digits.
    pub(crate) fn price(&self, points: i64) -> Decimal {
        Decimal::new(points, self.digits)
    }

    /// A decimal price in whole points; `None` for a price that is not positive or is not
    /// a multiple of the point.
    pub(crate) fn points(&self, price: Decimal) -> Option<i64> {
        use rust_decimal::prelude::ToPrimitive;

        if price <= Decimal::ZERO {
            return None;
        }
        let scaled = price.checked_mul(Decimal::from(10_i64.pow(self.digits)))?;
        if !scaled.fract().is_zero() {
            return None;
        }
        scaled.to_i64()
    }

    pub(crate) fn volume_min(&self) -> Decimal {
        Decimal::new(self.volume_min_cents, 2)
    }

    pub(crate) fn volume_step(&self) -> Decimal {
        Decimal::new(self.volume_step_cents, 2)
    }

    pub(crate) fn volume_max(&self) -> Decimal {
        Decimal::new(self.volume_max_cents, 2)
    }

    pub(crate) fn info(&self, spread: u32) -> SymbolInfo {
        SymbolInfo {
            name: self.name.to_owned(),
            description: self.description.to_owned(),
            digits: self.digits,
            point: self.point(),
            contract_size: Decimal::from(self.contract_size),
            volume_min: self.volume_min(),
            volume_step: self.volume_step(),
            volume_max: self.volume_max(),
            stops_level: self.stops_level,
            spread,
            currency_base: self.base.to_owned(),
            currency_profit: self.profit.to_owned(),
            currency_margin: self.margin.to_owned(),
            trade_mode: TradeMode::Full,
        }
    }
}

/// The simulated symbols, in the order the terminal lists them.
pub(crate) static SPECS: [Spec; 4] = [
    Spec {
        name: "EURUSD",
        description: "Euro vs US Dollar",
        digits: 5,
        contract_size: 100_000,
        volume_min_cents: 1,
        volume_step_cents: 1,
        volume_max_cents: 10_000,
        stops_level: 10,
        spread: 10,
        base: "EUR",
        profit: "USD",
        margin: "EUR",
        start_bid: 108_500,
        max_step: 3,
        minute_sigma: 12,
        profit_conversion: ProfitConversion::Direct,
        margin_mode: MarginMode::NotionalAtPrice,
    },
    Spec {
        name: "GBPUSD",
        description: "Great Britain Pound vs US Dollar",
        digits: 5,
        contract_size: 100_000,
        volume_min_cents: 1,
        volume_step_cents: 1,
        volume_max_cents: 10_000,
        stops_level: 10,
        spread: 14,
        base: "GBP",
        profit: "USD",
        margin: "GBP",
        start_bid: 127_000,
        max_step: 4,
        minute_sigma: 16,
        profit_conversion: ProfitConversion::Direct,
        margin_mode: MarginMode::NotionalAtPrice,
    },
    Spec {
        name: "USDJPY",
        description: "US Dollar vs Japanese Yen",
        digits: 3,
        contract_size: 100_000,
        volume_min_cents: 1,
        volume_step_cents: 1,
        volume_max_cents: 10_000,
        stops_level: 10,
        spread: 12,
        base: "USD",
        profit: "JPY",
        margin: "USD",
        start_bid: 150_000,
        max_step: 5,
        minute_sigma: 20,
        profit_conversion: ProfitConversion::DivideByRate,
        margin_mode: MarginMode::Notional,
    },
    Spec {
        name: "XAUUSD",
        description: "Gold vs US Dollar",
        digits: 2,
        contract_size: 100,
        volume_min_cents: 1,
        volume_step_cents: 1,
        volume_max_cents: 5_000,
        stops_level: 20,
        spread: 25,
        base: "XAU",
        profit: "USD",
        margin: "USD",
        start_bid: 235_000,
        max_step: 10,
        minute_sigma: 40,
        profit_conversion: ProfitConversion::Direct,
        margin_mode: MarginMode::NotionalAtPrice,
    },
];

/// The index of `name` in [`SPECS`]; symbol names are matched exactly, as MT5 does.
pub(crate) fn find(name: &str) -> Option<usize> {
    SPECS.iter().position(|spec| spec.name == name)
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn prices_convert_to_points_only_on_the_grid() {
        let eurusd = &SPECS[0];
        assert_eq!(eurusd.points(dec!(1.08512)), Some(108_512));
        assert_eq!(eurusd.points(dec!(1.1)), Some(110_000));
        assert_eq!(eurusd.points(dec!(1.085125)), None);
        assert_eq!(eurusd.points(dec!(0)), None);
        assert_eq!(eurusd.points(dec!(-1.1)), None);
        assert_eq!(eurusd.price(108_512), dec!(1.08512));
        assert_eq!(SPECS[2].price(150_123), dec!(150.123));
    }

    #[test]
    fn specs_are_those_of_a_retail_broker() {
        let digits: Vec<u32> = SPECS.iter().map(|spec| spec.digits).collect();
        assert_eq!(digits, vec![5, 5, 3, 2]);
        let gold = SPECS[3].info(25);
        assert_eq!(gold.contract_size, dec!(100));
        assert_eq!(gold.volume_max, dec!(50));
        assert_eq!(gold.point, dec!(0.01));
        assert_eq!(find("USDJPY"), Some(2));
        assert_eq!(find("usdjpy"), None);
    }
}
