//! Money is `Decimal` in the program and an `i64` of 10⁻⁴ units in the database: exact on both
//! backends, summable in SQL, and wide enough (±9.2·10¹⁴ units) for any account.

use rust_decimal::Decimal;

/// Decimal places kept in storage: covers every ISO 4217 exponent (0, 2, 3) and then some.
pub const SCALE: u32 = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("{0} has more than {SCALE} decimal places")]
    TooPrecise(Decimal),
    #[error("{0} is out of range")]
    OutOfRange(Decimal),
}

/// Converts to stored units, refusing (never rounding) a value finer than 10⁻⁴.
pub fn to_units(value: Decimal) -> Result<i64, MoneyError> {
    let scaled = value * Decimal::from(10_i64.pow(SCALE));
    if scaled.fract() != Decimal::ZERO {
        return Err(MoneyError::TooPrecise(value));
    }
    i64::try_from(scaled.trunc()).map_err(|_| MoneyError::OutOfRange(value))
}

pub fn from_units(units: i64) -> Decimal {
    Decimal::new(units, SCALE).normalize()
}

/// Rounds to a currency's decimals, for display (banker's rounding is not what banks print).
pub fn round_to(value: Decimal, decimals: u32) -> Decimal {
    value.round_dp_with_strategy(decimals, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

/// 10⁻⁴ units as text with exactly `decimals` digits after the point (`"-12.30"`), as statement
/// files and SimpleFIN write amounts.
pub fn units_text(units: i64, decimals: u32) -> String {
    format!("{:.prec$}", round_to(from_units(units), decimals), prec = decimals as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn amounts_are_written_with_exactly_the_currency_s_decimals() {
        assert_eq!(units_text(-123_000, 2), "-12.30");
        assert_eq!(units_text(5_000_000, 0), "500");
        assert_eq!(units_text(12_346, 3), "1.235");
        assert_eq!(units_text(0, 2), "0.00");
    }

    #[test]
    fn round_trips_exactly() {
        for v in [dec!(0), dec!(-16.22), dec!(1234567.891), dec!(0.0001), dec!(-0.0001), dec!(92233720368.5477)] {
            assert_eq!(from_units(to_units(v).unwrap()), v.normalize());
        }
    }

    #[test]
    fn refuses_what_it_cannot_keep() {
        assert_eq!(to_units(dec!(0.00001)), Err(MoneyError::TooPrecise(dec!(0.00001))));
        assert!(matches!(to_units(dec!(1e20)), Err(MoneyError::OutOfRange(_))));
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(round_to(dec!(2.345), 2), dec!(2.35));
        assert_eq!(round_to(dec!(-2.345), 2), dec!(-2.35));
    }
}
