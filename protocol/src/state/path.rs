//! Building paths ergonomically: the [`path!`](crate::path) macro and the
//! conversions it relies on ([`IntoSeg`]).

use super::Seg;

/// Anything that names one path segment: strings are map keys, integers
/// list indices.
///
/// An integer outside `0..=u32::MAX` (e.g. a negative index) becomes
/// `u32::MAX`, an index no list reaches, so the write fails with
/// `IndexOutOfRange` instead of panicking here.
pub trait IntoSeg {
    /// The segment.
    fn into_seg(self) -> Seg;
}

impl IntoSeg for Seg {
    fn into_seg(self) -> Seg {
        self
    }
}

impl IntoSeg for &Seg {
    fn into_seg(self) -> Seg {
        self.clone()
    }
}

impl IntoSeg for &str {
    fn into_seg(self) -> Seg {
        Seg::Key(self.to_owned())
    }
}

impl IntoSeg for String {
    fn into_seg(self) -> Seg {
        Seg::Key(self)
    }
}

impl IntoSeg for &String {
    fn into_seg(self) -> Seg {
        Seg::Key(self.clone())
    }
}

macro_rules! index_seg {
    ($($t:ty),*) => {$(
        impl IntoSeg for $t {
            fn into_seg(self) -> Seg {
                Seg::Idx(u32::try_from(self).unwrap_or(u32::MAX))
            }
        }
    )*};
}

// `i32` is here so that a bare literal (`path!["a", 3]`) type-checks.
index_seg!(u8, u16, u32, u64, usize, i32, i64);

impl From<&str> for Seg {
    fn from(k: &str) -> Self {
        Seg::Key(k.to_owned())
    }
}

impl From<String> for Seg {
    fn from(k: String) -> Self {
        Seg::Key(k)
    }
}

impl From<u32> for Seg {
    fn from(i: u32) -> Self {
        Seg::Idx(i)
    }
}

/// Builds a [`Path`](crate::state::Path) (`Vec<Seg>`): strings become map
/// keys, integers list indices.
///
/// ```
/// use plaza_protocol::path;
/// use plaza_protocol::state::Seg;
/// let sid = "abc";
/// assert_eq!(
///     path!["players", sid, 3],
///     vec![Seg::Key("players".into()), Seg::Key("abc".into()), Seg::Idx(3)]
/// );
/// assert!(path![].is_empty());
/// ```
#[macro_export]
macro_rules! path {
    () => {
        ::std::vec::Vec::<$crate::state::Seg>::new()
    };
    ($($seg:expr),+ $(,)?) => {
        ::std::vec![$($crate::state::IntoSeg::into_seg($seg)),+]
    };
}
