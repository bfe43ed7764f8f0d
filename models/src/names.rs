//! One spelling per enum value: the serde name is what a checkpoint stores, what `Display`
//! prints, what `FromStr` and the CLI's flags accept (clap's `ValueEnum`, with the `cli`
//! feature: `--help` lists the values). Replaces a hand-written pair per enum that could drift
//! from serde's spelling.

/// `Display`, `FromStr` (an error naming `$what` and the accepted values) and, with the `cli`
/// feature, `clap::ValueEnum` for a unit-variant enum, from its serde names.
macro_rules! serde_named {
    ($ty:ty, $what:literal, [$($variant:expr),+ $(,)?]) => {
        impl $ty {
            /// Every value, in the order `--help` lists them.
            pub const VARIANTS: &'static [$ty] = &[$($variant),+];
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&$crate::names::serde_name(self))
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                <$ty>::VARIANTS
                    .iter()
                    .find(|v| v.to_string() == s)
                    .copied()
                    .ok_or_else(|| $crate::names::unknown($what, s, <$ty>::VARIANTS))
            }
        }

        #[cfg(feature = "cli")]
        impl clap::ValueEnum for $ty {
            fn value_variants<'a>() -> &'a [Self] {
                <$ty>::VARIANTS
            }
            fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
                Some(clap::builder::PossibleValue::new(self.to_string()))
            }
        }
    };
}
pub(crate) use serde_named;

/// The string serde writes for a unit variant.
pub(crate) fn serde_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => unreachable!("a unit variant serialises to a string, got {other:?}"),
    }
}

/// "unknown WHAT `s`; expected a, b or c".
pub(crate) fn unknown<T: std::fmt::Display>(what: &str, s: &str, values: &[T]) -> String {
    let names: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    let expected = match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    format!(
        "unknown {what} `{}`; expected {expected}",
        crate::error::shortened(s)
    )
}

#[cfg(test)]
mod tests {
    use crate::prune::PruneScope;

    #[test]
    fn names_are_serdes_both_ways() {
        for v in PruneScope::VARIANTS {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json, format!("\"{v}\""));
            assert_eq!(v.to_string().parse::<PruneScope>().unwrap(), *v);
        }
        assert_eq!(
            "nope".parse::<PruneScope>().unwrap_err(),
            "unknown pruning scope `nope`; expected layer or global"
        );
    }
}
