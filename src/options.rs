//! The one convention for option enums: a string option (a BM25 variant, a fusion method, a
//! chunking strategy) is an enum declared with [`option_enum!`], which writes its vocabulary
//! once. From the declaration come the canonical names in declaration order (`NAMES`: what
//! errors list and configurations store), the accepted spellings (`ACCEPTED`: the names, then
//! the aliases; what the Python stubs' `Literal` types and `ragplay.OPTIONS` list), `name()`,
//! `FromStr` (ASCII case-insensitive; an unknown value is [`crate::Error::Config`] naming the
//! option and listing `NAMES`) and `Display`.
//!
//! ```
//! use ragplay::fuse::Method;
//! assert_eq!("WSUM".parse::<Method>().unwrap(), Method::CombSum);
//! assert_eq!(Method::CombSum.name(), "combsum");
//! assert!(Method::ACCEPTED.contains(&"wsum"));
//! ```

/// Declare an option enum (see the module docs):
///
/// ```ignore
/// option_enum! {
///     /// How scores are combined.
///     pub enum Method: "method" {
///         /// Reciprocal rank fusion.
///         Rrf => "rrf",
///         CombSum => "combsum" | "wsum",
///     }
/// }
/// ```
///
/// `"method"` is the option's name in error messages; each variant's first string is its
/// canonical name, the others are aliases. Attributes before `pub enum` (more derives, serde
/// settings) and before a variant (`#[default]`, docs) are kept.
macro_rules! option_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident: $option:literal {
            $(
                $(#[$vmeta:meta])*
                $variant:ident => $text:literal $(| $alias:literal)*
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                $variant,
            )+
        }

        impl $name {
            /// The option's name, as errors name it.
            pub const OPTION: &'static str = $option;
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The canonical names, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];
            /// Every accepted spelling: the canonical names, then the aliases.
            pub const ACCEPTED: &'static [&'static str] = &[$($text,)+ $($($alias,)*)+];

            /// The canonical name.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::error::Error;

            fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
                let lower = s.to_ascii_lowercase();
                match lower.as_str() {
                    $($text $(| $alias)* => Ok($name::$variant),)+
                    _ => Err($crate::error::Error::not_one_of(Self::OPTION, s, Self::NAMES)),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

pub(crate) use option_enum;

#[cfg(test)]
mod tests {
    option_enum! {
        /// A test option.
        #[derive(Default)]
        pub enum Colour: "colour" {
            #[default]
            Red => "red" | "rouge",
            DarkBlue => "dark-blue" | "dark_blue" | "navy",
        }
    }

    #[test]
    fn names_aliases_and_errors_come_from_one_declaration() {
        assert_eq!(Colour::NAMES, ["red", "dark-blue"]);
        assert_eq!(
            Colour::ACCEPTED,
            ["red", "dark-blue", "rouge", "dark_blue", "navy"]
        );
        assert_eq!(Colour::ALL, [Colour::Red, Colour::DarkBlue]);
        for (text, want) in [
            ("red", Colour::Red),
            ("ROUGE", Colour::Red),
            ("Navy", Colour::DarkBlue),
        ] {
            assert_eq!(text.parse::<Colour>().unwrap(), want);
        }
        for c in Colour::ALL {
            assert_eq!(c.name().parse::<Colour>().unwrap(), *c);
            assert_eq!(c.to_string(), c.name());
        }
        let err = "green".parse::<Colour>().unwrap_err().to_string();
        assert_eq!(err, r#"invalid colour: "green"; use "red" or "dark-blue""#);
        assert_eq!(Colour::default(), Colour::Red);
    }
}
