//! Volumes: taking them in from JSON numbers, and rounding them to a symbol's step.
//!
//! All arithmetic is decimal. A JSON number arrives as `f64`, whose binary value is rarely
//! the decimal the caller wrote (0.1 is 0.1000000000000000055…); we take the shortest
//! decimal that reads back as the same `f64`, which is what the caller wrote, and work on
//! that. Rounding `0.1 + 0.2` (0.30000000000000004) down to a step of 0.1 then gives 0.3,
//! where dividing in floating point would give 0.2.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::{Denial, VolumeError};

/// A requested volume in lots: positive, finite and no larger than [`Volume::MAX`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Volume(Decimal);

impl Volume {
    /// The largest volume accepted as input at all: far above any terminal's maximum, far
    /// below where decimal arithmetic on it could overflow.
    pub const MAX: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

    /// Takes a volume as a JSON parser delivers it.
    pub fn from_f64(value: f64) -> Result<Volume, VolumeError> {
        if value.is_nan() {
            return Err(VolumeError::NotANumber);
        }
        if value.is_infinite() {
            return Err(VolumeError::Infinite);
        }
        if value <= 0.0 {
            return Err(VolumeError::NotPositive { value });
        }
        if value > 1e9 {
            return Err(VolumeError::TooLarge { value, max: Volume::MAX });
        }

        // `Display` for f64 writes the shortest decimal that parses back to the same value,
        // never in exponent form. Past 28 decimal places the parser rounds or refuses; both
        // are volumes far too small to trade.
        let decimal = Decimal::from_str(&value.to_string()).unwrap_or(Decimal::ZERO);
        if decimal.is_zero() {
            return Err(VolumeError::TooSmall { value });
        }
        Ok(Volume(decimal.normalize()))
    }

    /// Takes a volume already in decimal.
    pub fn from_decimal(value: Decimal) -> Result<Volume, VolumeError> {
        if value <= Decimal::ZERO {
            return Err(VolumeError::NotPositive { value: decimal_to_f64(value) });
        }
        if value > Volume::MAX {
            return Err(VolumeError::TooLarge { value: decimal_to_f64(value), max: Volume::MAX });
        }
        Ok(Volume(value.normalize()))
    }

    /// The volume in lots.
    #[must_use]
    pub fn lots(self) -> Decimal {
        self.0
    }
}

fn decimal_to_f64(value: Decimal) -> f64 {
    // Only used to describe a refused value in an error message.
    value.to_string().parse().unwrap_or(f64::NAN)
}

/// How a volume that is not a multiple of the step is brought onto it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Toward zero: never trade more than asked. The default.
    #[default]
    Down,
    /// To the nearest step, halves away from zero.
    Nearest,
}

/// How far below a multiple of the step a volume may fall and still count as that multiple:
/// far above the error of a client's floating-point sums of lots, far below any step.
pub const FLOAT_NOISE: Decimal = Decimal::from_parts(1, 0, 0, false, 9);

/// A symbol's volume limits after narrowing by configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VolumeRules {
    pub min: Decimal,
    pub step: Decimal,
    pub max: Decimal,
}

impl VolumeRules {
    /// Brings `requested` onto the step (see [`FLOAT_NOISE`] for volumes a hair below one);
    /// `None` only when the arithmetic would overflow,
    /// which takes a step far smaller than any terminal uses.
    #[must_use]
    pub fn round(&self, requested: Decimal, rounding: Rounding) -> Option<Decimal> {
        let steps = requested.checked_div(self.step)?;
        let whole = match rounding {
            Rounding::Down => {
                // A volume a hair below a step (0.7 + 0.1 is 0.7999999999999999 in binary)
                // is that step: losing a whole step to the noise of a client's floating
                // point sum is not what anybody asked for.
                let up = steps.floor() + Decimal::ONE;
                if up.checked_mul(self.step)? - requested <= FLOAT_NOISE {
                    up
                } else {
                    steps.floor()
                }
            }
            Rounding::Nearest => {
                steps.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
            }
        };
        Some(whole.checked_mul(self.step)?.normalize())
    }

    /// Rounds `requested` and holds the result against the minimum and maximum.
    pub fn apply(
        &self,
        symbol: &str,
        requested: Decimal,
        rounding: Rounding,
    ) -> Result<Decimal, Denial> {
        let rounded = self.round(requested, rounding);
        let too_large = |rounded: Decimal| Denial::VolumeTooLarge {
            symbol: symbol.to_owned(),
            requested,
            rounded,
            max: self.max,
            step: self.step,
        };
        let Some(rounded) = rounded else {
            return Err(too_large(requested));
        };
        if rounded < self.min || rounded.is_zero() {
            return Err(Denial::VolumeTooSmall {
                symbol: symbol.to_owned(),
                requested,
                rounded,
                min: self.min,
                step: self.step,
            });
        }
        if rounded > self.max {
            return Err(too_large(rounded));
        }
        Ok(rounded)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    use super::*;

    fn rules(min: Decimal, step: Decimal, max: Decimal) -> VolumeRules {
        VolumeRules { min, step, max }
    }

    fn lots(value: f64) -> Decimal {
        Volume::from_f64(value).map_or(Decimal::MIN, Volume::lots)
    }

    /// Rounds `requested` under the usual FX rules (0.01 to 100 in steps of 0.01) or `step`.
    fn check(requested: f64, step: Decimal, rounding: Rounding, expect: Result<Decimal, &str>) {
        let rules = rules(step, step, dec!(100));
        let got = Volume::from_f64(requested)
            .map_err(|error| error.code())
            .and_then(|v| rules.apply("EURUSD", v.lots(), rounding).map_err(|d| d.code()));
        assert_eq!(got, expect, "{requested} with step {step}, {rounding:?}");
    }

    #[test]
    fn volumes_round_onto_the_step() {
        use Rounding::{Down, Nearest};
        check(0.015, dec!(0.01), Down, Ok(dec!(0.01)));
        check(0.015, dec!(0.01), Nearest, Ok(dec!(0.02)));
        check(0.1 + 0.2, dec!(0.1), Down, Ok(dec!(0.3)));
        check(0.1 + 0.2, dec!(0.01), Down, Ok(dec!(0.3)));
        // 0.3 - 0.1 is 0.19999999999999998 in binary floating point: float noise, not a
        // request for less than 0.2.
        check(0.3 - 0.1, dec!(0.1), Down, Ok(dec!(0.2)));
        check(0.3 - 0.1, dec!(0.01), Down, Ok(dec!(0.2)));
        check(0.199_999, dec!(0.1), Down, Ok(dec!(0.1)));
        check(0.7 + 0.1, dec!(0.1), Down, Ok(dec!(0.8)));
        check(1.0005, dec!(0.001), Down, Ok(dec!(1)));
        check(1.0015, dec!(0.001), Down, Ok(dec!(1.001)));
        check(0.0019, dec!(0.001), Nearest, Ok(dec!(0.002)));
        check(2.9, dec!(1), Down, Ok(dec!(2)));
        check(2.5, dec!(1), Nearest, Ok(dec!(3)));
        check(0.9, dec!(1), Down, Err("VOLUME_TOO_SMALL"));
        check(0.009, dec!(0.01), Down, Err("VOLUME_TOO_SMALL"));
        check(100.001, dec!(0.01), Down, Ok(dec!(100)));
        check(100.01, dec!(0.01), Down, Err("VOLUME_TOO_LARGE"));
        check(100.005, dec!(0.01), Nearest, Err("VOLUME_TOO_LARGE"));
    }

    #[test]
    fn unusable_numbers_are_refused_with_their_reason() {
        assert_eq!(Volume::from_f64(f64::NAN), Err(VolumeError::NotANumber));
        assert_eq!(Volume::from_f64(f64::INFINITY), Err(VolumeError::Infinite));
        assert_eq!(Volume::from_f64(f64::NEG_INFINITY), Err(VolumeError::Infinite));
        assert_eq!(Volume::from_f64(0.0), Err(VolumeError::NotPositive { value: 0.0 }));
        assert!(matches!(Volume::from_f64(-0.0), Err(VolumeError::NotPositive { .. })));
        assert_eq!(Volume::from_f64(-1.0), Err(VolumeError::NotPositive { value: -1.0 }));
        assert_eq!(
            Volume::from_f64(1e308),
            Err(VolumeError::TooLarge { value: 1e308, max: Volume::MAX })
        );
        assert_eq!(Volume::from_f64(1e-40), Err(VolumeError::TooSmall { value: 1e-40 }));
        assert_eq!(
            Volume::from_f64(1e308).map_err(|e| e.to_string()),
            Err("volume 1e308 is above the largest accepted volume 1000000000".to_owned())
        );
        assert_eq!(Volume::from_decimal(dec!(-0.5)).map_err(|e| e.code()), Err("VOLUME_TOO_SMALL"));
    }

    #[test]
    fn json_numbers_keep_the_decimal_the_caller_wrote() {
        assert_eq!(lots(0.1), dec!(0.1));
        assert_eq!(lots(0.1 + 0.2), dec!(0.30000000000000004));
        assert_eq!(lots(1e-7), dec!(0.0000001));
        assert_eq!(lots(123_456.78), dec!(123456.78));
    }

    #[test]
    fn denials_carry_the_numbers() {
        let rules = rules(dec!(0.01), dec!(0.01), dec!(50));
        assert_eq!(
            rules.apply("EURUSD", dec!(0.004), Rounding::Down),
            Err(Denial::VolumeTooSmall {
                symbol: "EURUSD".to_owned(),
                requested: dec!(0.004),
                rounded: dec!(0),
                min: dec!(0.01),
                step: dec!(0.01),
            })
        );
        assert_eq!(
            rules.apply("EURUSD", dec!(75.555), Rounding::Down),
            Err(Denial::VolumeTooLarge {
                symbol: "EURUSD".to_owned(),
                requested: dec!(75.555),
                rounded: dec!(75.55),
                max: dec!(50),
                step: dec!(0.01),
            })
        );
    }

    fn steps() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            Just(dec!(0.001)),
            Just(dec!(0.01)),
            Just(dec!(0.1)),
            Just(dec!(1)),
            Just(dec!(0.05))
        ]
    }

    proptest! {
        #[test]
        fn rounding_down_never_adds_volume_and_lands_on_the_step(
            value in 1e-6f64..1e6,
            step in steps(),
        ) {
            let requested = lots(value);
            let rules = rules(step, step, Volume::MAX);
            let rounded = rules.round(requested, Rounding::Down).unwrap_or(Decimal::MAX);
            prop_assert!(rounded <= requested + FLOAT_NOISE);
            prop_assert!(requested - rounded < step);
            prop_assert!((rounded % step).is_zero());
        }

        #[test]
        fn rounding_to_nearest_stays_within_half_a_step(value in 1e-6f64..1e6, step in steps()) {
            let requested = lots(value);
            let rules = rules(step, step, Volume::MAX);
            let rounded = rules.round(requested, Rounding::Nearest).unwrap_or(Decimal::MAX);
            prop_assert!((rounded - requested).abs() <= step / dec!(2));
            prop_assert!((rounded % step).is_zero());
        }

        #[test]
        fn a_volume_already_on_the_step_is_kept(count in 1u32..100_000, step in steps()) {
            let requested = Decimal::from(count) * step;
            let rules = rules(step, step, Volume::MAX);
            prop_assert_eq!(rules.round(requested, Rounding::Down), Some(requested.normalize()));
            prop_assert_eq!(rules.round(requested, Rounding::Nearest), Some(requested.normalize()));
        }

        #[test]
        fn any_f64_is_taken_or_refused_without_panicking(value in any::<f64>()) {
            match Volume::from_f64(value) {
                Ok(volume) => {
                    prop_assert!(volume.lots() > Decimal::ZERO);
                    prop_assert!(volume.lots() <= Volume::MAX);
                }
                Err(error) => prop_assert!(!error.to_string().is_empty()),
            }
        }

        #[test]
        fn the_decimal_taken_reads_back_as_the_same_f64(value in 1e-9f64..1e9) {
            let decimal = lots(value);
            prop_assert_eq!(decimal.to_string().parse::<f64>().ok(), Some(value));
        }
    }
}
